"""Service agents for the service tests, until the built-in ones ship a ``[service]`` table.

:func:`serve_builtins` makes some built-in agents read as service agents: the tests of
instances and tasks then run against real built-in references and manifests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session

from devspark.core.manifest import AgentManifest
from devspark.services import instances
from devspark.services.queue import WorkerIdentity, register_worker
from devspark.store.models import UserRow

SERVICES: dict[str, list[str]] = {
    "random": ["echo", "echo.slow"],
    "minimax": ["connect_four.best_move"],
}
"""Built-in agent name -> the task types it handles in these tests."""


@dataclass(frozen=True)
class FakeServiceSpec:
    """The shape of ``core.manifest.ServiceSpec``."""

    handles: list[str] = field(default_factory=list)
    concurrency: int = 2
    task_ms: int = 30_000


def serve_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the agents of :data:`SERVICES` service agents (others stay plain agents)."""

    def service_of(manifest: AgentManifest) -> FakeServiceSpec | None:
        handles = SERVICES.get(manifest.name)
        return None if handles is None else FakeServiceSpec(handles=list(handles))

    monkeypatch.setattr(instances, "_service_of", service_of)
    instances.service_builtins.cache_clear()
    monkeypatch.setattr(
        instances, "service_builtins", lambda: ("builtin:minimax", "builtin:random")
    )


def make_user(session: Session, role: str = "user") -> UserRow:
    """A committed account."""
    user = UserRow(username=f"svc-{uuid.uuid4().hex[:8]}", role=role)
    session.add(user)
    session.commit()
    return user


def make_worker(session: Session) -> uuid.UUID:
    """A registered worker's id."""
    identity = WorkerIdentity(name=f"w-{uuid.uuid4().hex[:6]}", host="h", pid=1)
    return register_worker(session, identity)
