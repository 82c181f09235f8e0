"""One transaction per write use case: when its audit entry cannot be written, nothing is kept.

Every write use case (tournament create/start/cancel, match create, agent publish,
start, stop, deprecate, version delete, agent delete) commits its change and its audit
entry together. Each test makes the audit insert fail and reads the database again
through a fresh session: the change is not there. A start that fails its sandbox trial
keeps its ``error`` state only together with its audit entry. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from devspark.arena.agents import StartTrial
from devspark.core.errors import FailedPreconditionError
from devspark.services import audit
from devspark.services.audit import AuditContext
from devspark.services.matches import create_match
from devspark.services.registry import AgentRegistry
from devspark.services.tournaments import cancel, create_tournament, start_tournament
from devspark.store.artifacts import ArtifactStore
from devspark.store.models import (
    AgentRow,
    AgentVersionRow,
    AuditLogRow,
    MatchRow,
    TournamentRow,
    UserRow,
)
from devspark.testing.archives import tar_gz

AGENTS = ["builtin:random", "builtin:minimax"]


def build_archive(version: str = "1.0.0") -> bytes:
    """A tiny agent ``bot`` at ``version`` (its code differs per version)."""
    manifest = (
        f'name = "bot"\nversion = "{version}"\nlanguage = "python"\n'
        'entrypoint = "agent.py"\nlicense = "MIT"\n'
    )
    code = f"# {version}\ndef act(observation, context):\n    return context.legal_actions[0]\n"
    return tar_gz({"agent.toml": manifest.encode(), "agent.py": code.encode()})


class AuditDownError(Exception):
    """The audit insert failed (raised in place of it)."""


@pytest.fixture
def ada(session: Session) -> UserRow:
    user = UserRow(username="ada", role="user")
    session.add(user)
    session.commit()
    return user


@pytest.fixture
def context(ada: UserRow) -> AuditContext:
    return AuditContext(actor=ada, actor_kind="user", correlation_id="trace-1")


@dataclass
class World:
    """The session a use case runs in, its actor, and a second session to check with."""

    session: Session
    ada: UserRow
    context: AuditContext
    fresh: Session
    monkeypatch: pytest.MonkeyPatch

    def break_audit(self) -> None:
        """Make every audit insert from now on fail."""

        def fail(*args: Any, **kwargs: Any) -> None:
            raise AuditDownError("audit log unavailable")

        self.monkeypatch.setattr(audit, "record", fail)

    def actions(self) -> list[tuple[str, str, str]]:
        """The audit entries in the database: (action, target id, correlation id)."""
        self.fresh.expire_all()
        rows = self.fresh.scalars(select(AuditLogRow).order_by(AuditLogRow.at, AuditLogRow.id))
        return [(row.action, row.target_id, row.correlation_id) for row in rows]

    def count(self, table: type[Any]) -> int:
        """How many rows ``table`` holds in the database."""
        return self.fresh.scalar(select(func.count()).select_from(table)) or 0


@pytest.fixture
def world(
    session: Session,
    ada: UserRow,
    context: AuditContext,
    migrated: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    # A second session: what the database really holds, not the first session's cache.
    with Session(migrated) as fresh:
        yield World(session, ada, context, fresh, monkeypatch)


@pytest.fixture
def registry(session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AgentRegistry:
    found = AgentRegistry(session, ArtifactStore(tmp_path / "artifacts"), tmp_path / "work")
    # A start tries the version in the sandbox; its outcome is not what these tests check.
    monkeypatch.setattr(found, "_trial", lambda version: StartTrial(True, "online", ""))
    return found


def _tournament(world: World) -> TournamentRow:
    return create_tournament(
        world.session,
        owner_id=world.ada.id,
        scenario="tictactoe",
        format="round_robin",
        agents=AGENTS,
        audit=world.context,
    )


# --------------------------------------------------------------------------- tournaments


def test_tournament_use_cases_commit_their_audit_entries(world: World) -> None:
    row = _tournament(world)
    start_tournament(world.session, row.id, world.context)
    cancel(world.session, row.id, world.context)
    tid = str(row.id)
    assert world.actions() == [
        ("tournament.create", tid, "trace-1"),
        ("tournament.start", tid, "trace-1"),
        ("tournament.cancel", tid, "trace-1"),
    ]
    entries = world.fresh.scalars(select(AuditLogRow).order_by(AuditLogRow.at)).all()
    assert entries[0].detail == {
        "scenario": "tictactoe-v1",
        "format": "round_robin",
        "agents": AGENTS,
    }
    assert entries[2].detail == {"previous": "running"}
    stored = world.fresh.get(TournamentRow, row.id)
    assert stored is not None and stored.status == "cancelled"


def test_tournament_create_without_its_audit_entry_is_not_kept(world: World) -> None:
    world.break_audit()
    with pytest.raises(AuditDownError):
        _tournament(world)
    assert world.count(TournamentRow) == 0
    assert world.actions() == []


def test_tournament_start_without_its_audit_entry_is_not_kept(world: World) -> None:
    row = _tournament(world)
    world.break_audit()
    with pytest.raises(AuditDownError):
        start_tournament(world.session, row.id, world.context)
    stored = world.fresh.get(TournamentRow, row.id)
    assert stored is not None
    assert (stored.status, stored.started_at) == ("created", None)
    assert [action for action, _, _ in world.actions()] == ["tournament.create"]


def test_tournament_cancel_without_its_audit_entry_is_not_kept(world: World) -> None:
    row = _tournament(world)
    start_tournament(world.session, row.id, world.context)
    world.break_audit()
    with pytest.raises(AuditDownError):
        cancel(world.session, row.id, world.context)
    stored = world.fresh.get(TournamentRow, row.id)
    assert stored is not None
    assert (stored.status, stored.finished_at) == ("running", None)
    assert [action for action, _, _ in world.actions()] == [
        "tournament.create",
        "tournament.start",
    ]


# --------------------------------------------------------------------------- matches


def _match(world: World) -> MatchRow:
    return create_match(
        world.session,
        owner_id=world.ada.id,
        scenario="tictactoe",
        agents=AGENTS,
        audit=world.context,
    )


def test_match_create_commits_its_audit_entry(world: World) -> None:
    row = _match(world)
    assert world.actions() == [("match.create", str(row.id), "trace-1")]
    entry = world.fresh.scalars(select(AuditLogRow)).one()
    assert entry.detail == {"scenario": "tictactoe-v1", "agents": AGENTS}
    assert (entry.actor_id, entry.actor_kind) == (world.ada.id, "user")


def test_match_create_without_its_audit_entry_is_not_kept(world: World) -> None:
    world.break_audit()
    with pytest.raises(AuditDownError):
        _match(world)
    assert world.count(MatchRow) == 0


# --------------------------------------------------------------------------- agents


def test_agent_use_cases_commit_their_audit_entries(registry: AgentRegistry, world: World) -> None:
    ada, context = world.ada, world.context
    first = registry.publish(ada, build_archive(), "bot.tar.gz", audit=context)
    second = registry.publish(ada, build_archive("1.1.0"), "bot.tar.gz", audit=context)
    registry.start(ada, second.id, audit=context)
    registry.stop(ada, second.id, audit=context)
    registry.deprecate(ada, second.id, audit=context)
    registry.delete_version(ada, first.id, audit=context)
    registry.delete_agent(ada, second.agent_id, audit=context)
    one, two, agent = str(first.id), str(second.id), str(second.agent_id)
    assert world.actions() == [
        ("agent.publish", one, "trace-1"),
        ("agent.publish", two, "trace-1"),
        ("agent.start", two, "trace-1"),
        ("agent.stop", two, "trace-1"),
        ("agent.deprecate", two, "trace-1"),
        ("agent.version_delete", one, "trace-1"),
        ("agent.delete", agent, "trace-1"),
    ]
    details = world.fresh.scalars(
        select(AuditLogRow.detail).where(AuditLogRow.target_id == two)
    ).all()
    assert all(detail == {"agent_id": agent, "version": "1.1.0"} for detail in details)


def test_agent_audit_entry_names_the_acting_user_by_default(
    registry: AgentRegistry, world: World
) -> None:
    version = registry.publish(world.ada, build_archive(), "bot.tar.gz")
    entry = world.fresh.scalars(select(AuditLogRow)).one()
    assert (entry.action, entry.target_id) == ("agent.publish", str(version.id))
    assert (entry.actor_id, entry.actor_kind) == (world.ada.id, "user")


def test_agent_publish_without_its_audit_entry_is_not_kept(
    registry: AgentRegistry, world: World, tmp_path: Path
) -> None:
    world.break_audit()
    with pytest.raises(AuditDownError):
        registry.publish(world.ada, build_archive(), "bot.tar.gz", audit=world.context)
    assert (world.count(AgentRow), world.count(AgentVersionRow)) == (0, 0)
    stored = tmp_path / "artifacts"
    assert not stored.exists() or not any(p.is_file() for p in stored.rglob("*"))


def _state(world: World, version_id: uuid.UUID) -> tuple[str, bool] | None:
    world.fresh.expire_all()
    row = world.fresh.get(AgentVersionRow, version_id)
    return None if row is None else (row.lifecycle_state, row.deprecated)


@pytest.mark.parametrize("use_case", ["start", "stop", "deprecate", "delete_version"])
def test_agent_version_change_without_its_audit_entry_is_not_kept(
    registry: AgentRegistry, world: World, use_case: str
) -> None:
    version = registry.publish(world.ada, build_archive(), "bot.tar.gz", audit=world.context)
    if use_case == "stop":
        registry.start(world.ada, version.id, audit=world.context)
    before = _state(world, version.id)
    world.break_audit()
    with pytest.raises(AuditDownError):
        getattr(registry, use_case)(world.ada, version.id, audit=world.context)
    assert before is not None
    assert _state(world, version.id) == before


def test_agent_delete_without_its_audit_entry_is_not_kept(
    registry: AgentRegistry, world: World
) -> None:
    version = registry.publish(world.ada, build_archive(), "bot.tar.gz", audit=world.context)
    world.break_audit()
    with pytest.raises(AuditDownError):
        registry.delete_agent(world.ada, version.agent_id, audit=world.context)
    agent = world.fresh.get(AgentRow, version.agent_id)
    assert agent is not None and agent.deleted_at is None


def _failing_trial(
    registry: AgentRegistry, world: World, monkeypatch: pytest.MonkeyPatch
) -> AgentVersionRow:
    """A published version whose sandbox trial fails with ``boom``."""
    version = registry.publish(world.ada, build_archive(), "bot.tar.gz", audit=world.context)
    monkeypatch.setattr(registry, "_trial", lambda v: StartTrial(False, "deploying", "boom"))
    return version


def test_agent_failed_start_keeps_its_error_state_with_its_audit_entry(
    registry: AgentRegistry, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = _failing_trial(registry, world, monkeypatch)
    with pytest.raises(FailedPreconditionError, match="boom"):
        registry.start(world.ada, version.id, audit=world.context)
    assert _state(world, version.id) == ("error", False)
    entry = world.fresh.scalars(
        select(AuditLogRow).where(AuditLogRow.action == "agent.start")
    ).one()
    assert entry.detail["error"] == "tried in the sandbox: boom"


def test_agent_failed_start_without_its_audit_entry_is_not_kept(
    registry: AgentRegistry, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = _failing_trial(registry, world, monkeypatch)
    world.break_audit()
    with pytest.raises(AuditDownError):
        registry.start(world.ada, version.id, audit=world.context)
    assert _state(world, version.id) == ("registered", False)
