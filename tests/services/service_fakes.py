"""Accounts and workers for the tests of service instances and tasks."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from devspark.services.live import LiveHub
from devspark.services.queue import WorkerIdentity, register_worker
from devspark.store.models import ServiceInstanceRow, UserRow


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


def heard(hub: LiveHub, topic: str) -> list[dict[str, Any]]:
    """The events ``hub`` publishes on ``topic`` from now on, as they are offered."""
    subscription = hub.subscribe(topic)
    events: list[dict[str, Any]] = []
    original = subscription.offer

    def offer(event: dict[str, Any]) -> bool:
        events.append(event)
        return original(event)

    subscription.offer = offer  # type: ignore[method-assign]
    return events


def hold_many(session: Session, owner_id: uuid.UUID, worker_id: uuid.UUID, count: int) -> None:
    """``count`` idle echo instances held by ``worker_id`` (committed)."""
    session.add_all(
        ServiceInstanceRow(
            owner_id=owner_id,
            agent_ref="builtin:echo",
            agent_name="echo",
            version="1",
            handles=["echo"],
            worker_id=worker_id,
            state="idle",
        )
        for _ in range(count)
    )
    session.commit()
