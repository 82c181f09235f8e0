"""DatabaseBackend against the real store: addressed claims, failed unpacks, instance events."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from devspark.hosting.database import DatabaseBackend
from devspark.services.instances import claim_instances, get_instance, start_instances
from devspark.services.live import LiveHub
from devspark.services.queue import WorkerIdentity, register_worker
from devspark.services.tasks import TaskSpec, submit_task
from devspark.store.db import session_factory
from devspark.store.models import AgentRow, AgentVersionRow, ServiceInstanceRow, UserRow

pytestmark = pytest.mark.integration


@pytest.fixture
def made(migrated: Engine) -> sessionmaker[Session]:
    return session_factory(migrated)


@pytest.fixture
def user(made: sessionmaker[Session]) -> uuid.UUID:
    with made() as session:
        row = UserRow(username="ada", role="user")
        session.add(row)
        session.commit()
        return row.id


def test_a_big_hosts_claim_takes_a_task_addressed_to_one_of_its_instances(
    made: sessionmaker[Session], user: uuid.UUID
) -> None:
    with made() as session:
        (row,) = start_instances(session, owner_id=user, agent_ref="builtin:echo")
        worker_id = register_worker(session, WorkerIdentity.here("big"))
        claim_instances(session, worker_id, 1)
        more = {"owner_id": user, "agent_ref": "builtin:echo", "agent_name": "echo"}
        more.update(version="1", handles=["echo"], worker_id=worker_id, state="idle")
        session.execute(insert(ServiceInstanceRow), [dict(more) for _ in range(1000)])
        session.commit()  # a thousand more instances held here
    backend = DatabaseBackend(made, worker_id)
    assert backend.claim_tasks({"echo": 1}) == []
    with made() as session:
        addressed = submit_task(session, TaskSpec("echo", 1, to=row.id), owner_id=user).id
    (claimed,) = backend.claim_tasks({"echo": 1})
    assert (claimed.id, claimed.to) == (str(addressed), str(row.id))
    assert backend.claim_tasks({"echo": 1}) == []


class _Stager:
    def folder(self, version: Any) -> str:
        raise OSError("not a gzip file")


def test_an_agent_that_cannot_be_unpacked_is_an_error_not_claimed_again_at_once(
    made: sessionmaker[Session], user: uuid.UUID
) -> None:
    with made() as session:
        (row,) = start_instances(session, owner_id=user, agent_ref="builtin:echo")
        agent = AgentRow(owner_id=user, name="svc")
        session.add(agent)
        session.flush()
        version = AgentVersionRow(
            agent_id=agent.id,
            version="1.0.0",
            sha256="0" * 64,
            manifest={},
            license="MIT",
            language="python",
            artifact_ref="package:sha256:" + "1" * 64,
        )
        session.add(version)
        session.flush()
        row.agent_version_id = version.id  # as if uploaded: the backend must unpack it
        session.commit()
        worker_id = register_worker(session, WorkerIdentity.here("unpack"))
    hub = LiveHub()
    seen: list[dict[str, Any]] = []
    subscription = hub.subscribe(f"instance:{row.id}")
    original = subscription.offer

    def offer(event: dict[str, Any]) -> bool:
        seen.append(event)
        return original(event)

    subscription.offer = offer  # type: ignore[method-assign]
    backend = DatabaseBackend(made, worker_id, hub=hub, stager=_Stager())  # type: ignore[arg-type]
    assert backend.claim_instances(4) == []
    for _ in range(3):  # the next heartbeats
        assert backend.claim_instances(4) == []
    with made() as session:
        got = get_instance(session, row.id)
        assert (got.state, got.worker_id, got.failures) == ("error", None, 1)
        assert got.error == "cannot unpack its agent: not a gzip file"
        assert got.retry_at is not None and got.retry_at > got.updated_at
    assert [e["state"] for e in seen] == ["deploying", "error"]
