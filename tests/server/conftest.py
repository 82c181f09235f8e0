"""Server fixtures: the environment that points an app at the database under test.

``server_environ`` gives ``Settings.from_env(environ=...)`` the ``DEVSPARK_DATABASE_URL``
of ``db_url`` (see ``tests/conftest.py``), so every test that builds an app through it
runs on SQLite and on PostgreSQL (marked ``integration``), each on an empty database.
``module_server_environ`` is the same for module-scoped apps: on PostgreSQL it creates a
database of its own for the module (function-scoped tests empty the shared one's schema)
and drops it afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import make_url

from devspark.store.db import DATABASE_URL_ENV

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
]


@pytest.fixture
def server_environ(db_url: str) -> dict[str, str]:
    """``environ`` for ``Settings.from_env``: the empty database under test."""
    return {DATABASE_URL_ENV: db_url}


@pytest.fixture(scope="module", params=BACKENDS)
def module_server_environ(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """``environ`` for a module-scoped app: a database of the module's own."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("server-db")
        yield {DATABASE_URL_ENV: f"sqlite:///{folder / 'devspark.db'}"}
        return
    session_url: str = request.getfixturevalue("postgres_url")
    parsed = make_url(session_url)
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{parsed.database}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {DATABASE_URL_ENV: parsed.set(database=name).render_as_string(hide_password=False)}
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
