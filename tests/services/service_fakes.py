"""Accounts and workers for the tests of service instances and tasks."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from devspark.services.queue import WorkerIdentity, register_worker
from devspark.store.models import UserRow


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
