"""Shared fixtures: tiny agent folders written into ``tmp_path``, and databases.

Database fixtures (``db_url``, ``engine``, ``migrated``, ``session``) run every test that
uses them on SQLite and on a real PostgreSQL. PostgreSQL is the server at
127.0.0.1:5432 (trust auth, user ``postgres``), or the one ``DEVSPARK_TEST_POSTGRES_URL``
names (an admin URL to its maintenance database). Each test session (each xdist worker)
creates its own ``devspark_test_<random>`` database and drops it at the end; each test
starts from an empty ``public`` schema. The PostgreSQL cases are marked ``integration``
and skip with the reason when the server is down.

Every skip, at run time or while collecting, fails in CI (``DEVSPARK_REQUIRE_SERVICES=1``):
see the ``ci_skip_guard`` plugin loaded below. ``pytester`` serves the guard's own tests.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

from devspark.store.db import make_engine, session_factory, upgrade

pytest_plugins = ["pytester", "ci_skip_guard"]

MakeAgent = Callable[..., Path]


@pytest.fixture
def make_agent(tmp_path: Path) -> MakeAgent:
    """Write an agent folder (``agent.toml`` plus its entrypoint) and return its path."""

    def make(
        code: str,
        *,
        name: str = "test-agent",
        language: str = "python",
        scenarios: tuple[str, ...] = ("tictactoe",),
        limits: dict[str, int] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        entrypoint = "agent.py" if language == "python" else "agent.mjs"
        folder = tmp_path / name
        folder.mkdir()
        fields = {
            "name": name,
            "version": "0.1.0",
            "language": language,
            "entrypoint": entrypoint,
            "license": "MIT",
            "scenarios": list(scenarios),
            **(extra or {}),
        }
        lines = [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
        if limits:
            lines.append("[limits]")
            lines += [f"{key} = {value}" for key, value in limits.items()]
        (folder / "agent.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / entrypoint).write_text(textwrap.dedent(code), encoding="utf-8")
        return folder

    return make


@pytest.fixture(autouse=True)
def _unmount_state_quotas(tmp_path: Path) -> Iterator[None]:
    """Unmount state-folder tmpfs quotas that a test created under its own ``tmp_path``."""
    yield
    root = str(tmp_path)
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts if line.startswith("devspark-state ")]
    for point in sorted(points, reverse=True):
        if point.startswith(root):
            subprocess.run(["umount", point], check=False, capture_output=True)


TEST_SECRET_KEY = "test-secret-key-" + "0" * 32
"""``DEVSPARK_SECRET_KEY`` for every test: the server refuses to start without one."""


@pytest.fixture(autouse=True)
def _server_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the API server (``create_app``, ``devspark serve``) a signing secret."""
    monkeypatch.setenv("DEVSPARK_SECRET_KEY", TEST_SECRET_KEY)


POSTGRES_ADMIN_URL = os.environ.get(
    "DEVSPARK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
]


def _libpq(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Create a fresh PostgreSQL database for this session; yield its URL, then drop it."""
    admin = _libpq(POSTGRES_ADMIN_URL)
    name = f"devspark_test_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {exc}".strip())
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database on the backend under test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'devspark.db'}"
    url: str = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the empty database under test."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def migrated(engine: Engine) -> Engine:
    """The engine, after ``upgrade`` to head."""
    upgrade(engine)
    return engine


@pytest.fixture
def session(migrated: Engine) -> Iterator[Session]:
    """A session on the migrated database."""
    with session_factory(migrated)() as session:
        yield session


REDIS_URL = os.environ.get("DEVSPARK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    """The test Redis (``DEVSPARK_TEST_REDIS_URL``, else 127.0.0.1:6379); skips when it is down."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL
