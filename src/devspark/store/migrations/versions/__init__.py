"""Alembic revisions, one module each, oldest first."""
