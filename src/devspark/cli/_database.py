"""The database options operator commands share, and opening that database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, make_url

from devspark.core.errors import NotFoundError
from devspark.server.settings import Settings
from devspark.store.db import make_engine, upgrade

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder of the SQLite database and the artifacts (default: $DEVSPARK_DATA_DIR "
        "or ~/.local/share/devspark).",
    ),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL of the server's database (default: $DEVSPARK_DATABASE_URL, "
        "else SQLite in the data folder).",
    ),
]


def existing_sqlite(database_url: str) -> None:
    """Refuse a SQLite database that does not exist yet (it would be created empty).

    Raises:
        NotFoundError: The URL names a SQLite file that is not there.

    """
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database)
    if not path.is_file():
        raise NotFoundError(
            f"no server database at {path}: give --data-dir the folder `devspark serve "
            f"--data-dir` uses (`make run` uses .devspark-data), or --database-url"
        )


@contextmanager
def server_database(
    data_dir: Path | None, database_url: str | None
) -> Iterator[tuple[Settings, Engine]]:
    """The settings and a migrated engine of an existing server database (disposed after)."""
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    existing_sqlite(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        yield settings, engine
    finally:
        engine.dispose()


__all__ = ["DataDirOption", "DatabaseUrlOption", "existing_sqlite", "server_database"]
