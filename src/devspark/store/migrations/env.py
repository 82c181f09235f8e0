"""Alembic environment: runs revisions on the connection ``devspark.store.db`` hands over.

There is no ``alembic.ini``; :func:`devspark.store.db.alembic_config` builds the
configuration in code and puts an open connection in ``config.attributes``. Batch mode
is on so that future ``ALTER`` steps work on SQLite too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from devspark.store.db import make_engine
from devspark.store.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the revisions on the given connection, or on one opened from the config URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: no connection in config.attributes and no sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.begin() as fresh:
            _run(fresh)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("devspark migrations run online only; use devspark.store.db.upgrade")
run_migrations_online()
