"""Storage: SQLAlchemy models and migrations (SQLite or PostgreSQL) and the artifact store."""
