"""Database configuration: URL, engine, sessions and migrations.

SQLite (a file under the data directory) is the default; PostgreSQL is used when
``DEVSPARK_DATABASE_URL`` names it. Migrations are Alembic revisions shipped in
:mod:`devspark.store.migrations`, applied by :func:`upgrade` without an ``alembic.ini``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from devspark.core.errors import InvalidArgumentError

DATABASE_URL_ENV = "DEVSPARK_DATABASE_URL"
DATA_DIR_ENV = "DEVSPARK_DATA_DIR"
DATABASE_FILE = "devspark.db"
SQLITE_BUSY_TIMEOUT_MS = 5000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}
_POSTGRES_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg"}


def default_data_dir() -> Path:
    """Return the data directory: ``DEVSPARK_DATA_DIR`` or ``~/.local/share/devspark``."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".local" / "share" / "devspark"


def database_url(data_dir: Path | None = None) -> str:
    """Return the database URL to use.

    Args:
        data_dir: Folder for the default SQLite file; defaults to :func:`default_data_dir`.

    Returns:
        ``DEVSPARK_DATABASE_URL`` when set, else ``sqlite:///<data_dir>/devspark.db``.
    """
    configured = os.environ.get(DATABASE_URL_ENV)
    if configured:
        return configured
    folder = data_dir if data_dir is not None else default_data_dir()
    return f"sqlite:///{Path(folder).expanduser().resolve() / DATABASE_FILE}"


def normalize_url(url: str | URL) -> URL:
    """Parse ``url`` and pin the driver DevSpark ships (pysqlite or psycopg 3).

    Raises:
        InvalidArgumentError: The URL is malformed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidArgumentError(f"database url: cannot parse {str(url)!r}: {exc}") from exc
    if parsed.drivername in _SQLITE_DRIVERS:
        return parsed
    if parsed.drivername in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg")
    raise InvalidArgumentError(
        f"database url: unsupported scheme {parsed.drivername!r} in "
        f"{parsed.render_as_string(hide_password=True)!r}; use sqlite:///PATH or "
        "postgresql+psycopg://USER@HOST/DB"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with DevSpark's connection settings.

    SQLite connections get WAL journaling, enforced foreign keys and a busy timeout (and
    the database file's folder is created); PostgreSQL goes through psycopg 3 with
    pre-ping on checkout.

    Args:
        url: Database URL (see :func:`database_url`).
        **kwargs: Passed on to :func:`sqlalchemy.create_engine`.

    Raises:
        InvalidArgumentError: The URL names an unsupported database.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to ``engine`` (objects stay usable after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Return an Alembic configuration built in code, pointing at the shipped revisions."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (``alembic upgrade head`` by default).

    Safe to call on every start: an up-to-date database is left unchanged.

    Args:
        engine_or_url: An engine from :func:`make_engine`, or a URL to build one from.
        revision: Target revision.
    """
    if isinstance(engine_or_url, Engine):
        _upgrade(engine_or_url, revision)
        return
    engine = make_engine(engine_or_url)
    try:
        _upgrade(engine, revision)
    finally:
        engine.dispose()


MIGRATION_LOCK = 0x64657675  # "devu": servers and workers starting together take turns
"""The PostgreSQL advisory lock that serialises concurrent upgrades."""


def _upgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        if engine.url.get_backend_name() == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
