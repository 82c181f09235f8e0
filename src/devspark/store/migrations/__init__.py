"""Alembic migrations for the DevSpark database (applied by ``devspark.store.db.upgrade``)."""
