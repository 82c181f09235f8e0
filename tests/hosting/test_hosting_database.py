"""DatabaseBackend against the real store: a big host's claim names its instances only when needed."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from devspark.hosting.database import ADDRESSED_CHECK, DatabaseBackend
from devspark.services.instances import claim_instances, start_instances
from devspark.services.queue import WorkerIdentity, register_worker
from devspark.services.tasks import TaskSpec, submit_task
from devspark.store.db import session_factory
from devspark.store.models import UserRow

pytestmark = pytest.mark.integration


@pytest.fixture
def made(migrated: Engine) -> sessionmaker[Session]:
    return session_factory(migrated)


def test_a_big_hosts_claim_takes_a_task_addressed_to_one_of_its_instances(
    made: sessionmaker[Session],
) -> None:
    with made() as session:
        user = UserRow(username="ada", role="user")
        session.add(user)
        session.commit()
        (row,) = start_instances(session, owner_id=user.id, agent_ref="builtin:echo")
        worker_id = register_worker(session, WorkerIdentity.here("big"))
        (placed,) = claim_instances(session, worker_id, 1)
    backend = DatabaseBackend(made, worker_id)
    others = [str(uuid.uuid4()) for _ in range(ADDRESSED_CHECK)]
    local = [str(placed.id), *others]
    with made() as session:
        assert not backend._addressed_here(session)
        addressed = submit_task(session, TaskSpec("echo", 1, to=row.id), owner_id=user.id).id
        assert backend._addressed_here(session)
    (claimed,) = backend.claim_tasks({"echo": 1}, local)
    assert (claimed.id, claimed.to) == (str(addressed), str(row.id))
    assert backend.claim_tasks({"echo": 1}, local) == []
