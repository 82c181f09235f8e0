"""Database configuration, engines and migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from devspark.core.errors import InvalidArgumentError
from devspark.store.db import (
    alembic_config,
    database_url,
    default_data_dir,
    make_engine,
    normalize_url,
    session_factory,
    upgrade,
)
from devspark.store.models import Base, UserRow

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()

TABLES = {
    "users",
    "api_keys",
    "refresh_tokens",
    "agents",
    "agent_versions",
    "agent_lifecycle_events",
    "scenarios",
    "matches",
    "match_results",
    "tournaments",
    "rating_snapshots",
    "audit_log",
}


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_database_url_prefers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSPARK_DATABASE_URL", "postgresql+psycopg://u@db/devspark")
    assert database_url(Path("/ignored")) == "postgresql+psycopg://u@db/devspark"


def test_database_url_defaults_to_sqlite_in_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DEVSPARK_DATABASE_URL", raising=False)
    monkeypatch.setenv("DEVSPARK_DATA_DIR", str(tmp_path / "env"))
    assert database_url() == f"sqlite:///{tmp_path / 'env' / 'devspark.db'}"
    assert database_url(tmp_path / "arg") == f"sqlite:///{tmp_path / 'arg' / 'devspark.db'}"


def test_default_data_dir_is_under_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVSPARK_DATA_DIR", raising=False)
    assert default_data_dir() == Path.home() / ".local" / "share" / "devspark"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://h/db", "mongodb://h/db"])
def test_unsupported_scheme_is_refused(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="unsupported scheme"):
        make_engine(url)


def test_malformed_url_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="cannot parse 'not a url'"):
        normalize_url("not a url")


def test_unsupported_scheme_message_hides_password() -> None:
    with pytest.raises(InvalidArgumentError, match=r"\*\*\*") as info:
        normalize_url("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_postgres_urls_use_psycopg3(scheme: str) -> None:
    assert normalize_url(f"{scheme}://u@h/db").drivername == "postgresql+psycopg"


def test_sqlite_engine_creates_the_data_folder(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'devspark.db'}")
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    assert (tmp_path / "a" / "b" / "devspark.db").is_file()


def test_sqlite_connection_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'devspark.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
    engine.dispose()


def test_upgrade_from_empty(engine: Engine) -> None:
    assert _revision(engine) is None
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert _revision(engine) == HEAD


def test_upgrade_is_idempotent(migrated: Engine) -> None:
    with session_factory(migrated)() as session:
        session.add(UserRow(username="ada"))
        session.commit()
    upgrade(migrated)
    upgrade(migrated)
    assert _revision(migrated) == HEAD
    with migrated.connect() as conn:
        assert conn.execute(text("SELECT username FROM users")).scalars().all() == ["ada"]


def test_upgrade_accepts_a_url(db_url: str, engine: Engine) -> None:
    upgrade(db_url)
    assert _revision(engine) == HEAD


def test_migrated_schema_matches_the_models(migrated: Engine) -> None:
    with migrated.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_base_then_upgrade_again(migrated: Engine) -> None:
    config = alembic_config()
    with migrated.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert not TABLES & set(inspect(migrated).get_table_names())
    upgrade(migrated)
    assert set(inspect(migrated).get_table_names()) >= TABLES


def test_sqlite_database_is_in_wal_mode_after_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "devspark.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_0002_keeps_existing_matches_and_adds_their_owner(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            text(
                "INSERT INTO scenarios (id, name, version, domains, players_min, players_max,"
                " difficulties) VALUES ('tictactoe-v1', 'tictactoe', 1, '[]', 2, 2, '[]')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO matches (id, scenario_id, seed, options, isolation, status,"
                " created_at, steps, wall_ms) VALUES (:id, 'tictactoe-v1', 3, '{}', 'sandbox',"
                " 'finished', CURRENT_TIMESTAMP, 9, 1.5)"
            ),
            {
                "id": "0" * 32
                if engine.dialect.name == "sqlite"
                else "0" * 8 + "-0000-0000-0000-" + "0" * 12
            },
        )
        command.upgrade(config, "head")
        row = conn.execute(text("SELECT seed, steps, owner_id FROM matches")).one()
    assert tuple(row) == (3, 9, None)


def _insert_tournament(conn: Any, engine: Engine, status: str) -> None:
    conn.execute(
        text(
            "INSERT INTO tournaments (id, owner_id, scenario_id, format, params, seed, status,"
            " created_at) VALUES (:id, :owner, 'tictactoe-v1', 'round_robin', '{}', 0, :status,"
            " CURRENT_TIMESTAMP)"
        ),
        {"id": uuid.uuid4().hex, "owner": _OWNER.hex, "status": status}
        if engine.dialect.name == "sqlite"
        else {"id": str(uuid.uuid4()), "owner": str(_OWNER), "status": status},
    )


_OWNER = uuid.UUID(int=7)


def _insert_owner_and_scenario(conn: Any, engine: Engine) -> None:
    """The rows a tournament references: its owner and tic-tac-toe."""
    owner = _OWNER.hex if engine.dialect.name == "sqlite" else str(_OWNER)
    conn.execute(
        text(
            "INSERT INTO users (id, username, role, created_at, disabled)"
            " VALUES (:id, 'o', 'user', CURRENT_TIMESTAMP, false)"
        ),
        {"id": owner},
    )
    conn.execute(
        text(
            "INSERT INTO scenarios (id, name, version, domains, players_min, players_max,"
            " difficulties) VALUES ('tictactoe-v1', 'tictactoe', 1, '[]', 2, 2, '[]')"
        )
    )


def test_0003_lets_tournaments_fail_with_a_reason_and_still_checks_status(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        _insert_owner_and_scenario(conn, engine)
        _insert_tournament(conn, engine, "running")
        command.upgrade(config, "0003")
        _insert_tournament(conn, engine, "failed")
        conn.execute(text("UPDATE tournaments SET error = 'boom' WHERE status = 'failed'"))
        rows = conn.execute(text("SELECT status, error FROM tournaments ORDER BY status")).all()
    assert [tuple(row) for row in rows] == [("failed", "boom"), ("running", None)]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        _insert_tournament(conn, engine, "exploded")


def _insert_match(conn: Any, engine: Engine, status: str, tournament: str | None) -> str:
    sqlite = engine.dialect.name == "sqlite"
    match = uuid.uuid4()
    conn.execute(
        text(
            "INSERT INTO matches (id, scenario_id, seed, options, isolation, status,"
            " tournament_id, created_at, steps, wall_ms) VALUES (:id, 'tictactoe-v1', 0, '{}',"
            " 'sandbox', :status, :tournament, CURRENT_TIMESTAMP, 0, 0)"
        ),
        {"id": match.hex if sqlite else str(match), "status": status, "tournament": tournament},
    )
    return match.hex if sqlite else str(match)


def test_0004_cancels_the_queued_matches_of_cancelled_tournaments(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        _insert_owner_and_scenario(conn, engine)
        for status in ("cancelled", "running"):
            _insert_tournament(conn, engine, status)
        ids = dict(conn.execute(text("SELECT status, id FROM tournaments")).all())
        tournaments = {status: str(id_) for status, id_ in ids.items()}
        ended = _insert_match(conn, engine, "queued", tournaments["cancelled"])
        played = _insert_match(conn, engine, "finished", tournaments["cancelled"])
        waiting = _insert_match(conn, engine, "queued", tournaments["running"])
        alone = _insert_match(conn, engine, "queued", None)
        command.upgrade(config, "0004")
        found = dict(conn.execute(text("SELECT id, status FROM matches")).all())
        statuses = {str(id_): status for id_, status in found.items()}
        _insert_match(conn, engine, "cancelled", None)  # the check admits the new status
    assert statuses == {
        ended: "cancelled",
        played: "finished",
        waiting: "queued",
        alone: "queued",
    }
    with pytest.raises(IntegrityError), engine.begin() as conn:
        _insert_match(conn, engine, "paused", None)
