"""Service agents hosted by a real worker on SQLite and PostgreSQL, end to end.

Each test starts instances through :mod:`devspark.services.instances`, submits tasks
through :mod:`devspark.services.tasks`, and runs a real
:class:`~devspark.worker.engine.Worker` whose host starts the agents' processes (the
sandboxed built-in ``echo``, or a test agent at the ``process`` level); it waits on the
database, never on a fixed sleep.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker
from worker_helpers import make_worker, owner, wait_until

from devspark.core.isolation import IsolationLevel
from devspark.hosting import Placement
from devspark.hosting.database import sandboxed_workers
from devspark.services.instances import start_instances, stop_instance
from devspark.services.queue import WorkerIdentity, register_worker
from devspark.services.tasks import TaskSpec, claim_tasks, submit_task
from devspark.store.db import session_factory
from devspark.store.models import ServiceInstanceRow, TaskRow
from devspark.worker.engine import Worker

pytestmark = pytest.mark.integration

SERVING = ("online", "idle", "busy")

CRASHER = """
import os

def handle(task, context):
    if task["payload"] == "crash":
        os._exit(3)
    return task["payload"]
"""


@pytest.fixture
def made(migrated: Engine) -> sessionmaker[Session]:
    return session_factory(migrated)


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


def hosting_worker(
    made: sessionmaker[Session],
    engine: Engine,
    data_dir: Path,
    started: list[Worker],
    **config: Any,
) -> Worker:
    """A worker hosting up to 8 instances, started (and stopped after the test)."""
    worker = make_worker(made, engine, data_dir, **{"instances": 8, **config})
    worker.start()
    started.append(worker)
    return worker


def instances(made: sessionmaker[Session], replicas: int = 1) -> list[uuid.UUID]:
    with made() as session:
        rows = start_instances(
            session, owner_id=owner(made), agent_ref="builtin:echo", replicas=replicas
        )
        return [row.id for row in rows]


def instance(made: sessionmaker[Session], ident: uuid.UUID) -> ServiceInstanceRow:
    with made() as session:
        row = session.get(ServiceInstanceRow, ident)
        assert row is not None
        session.expunge(row)
        return row


def submit(made: sessionmaker[Session], payload: Any, **fields: Any) -> uuid.UUID:
    with made() as session:
        return submit_task(session, TaskSpec("echo", payload, **fields), owner_id=owner(made)).id


def task(made: sessionmaker[Session], ident: uuid.UUID) -> TaskRow:
    with made() as session:
        row = session.get(TaskRow, ident)
        assert row is not None
        session.expunge(row)
        return row


def finished(made: sessionmaker[Session], ident: uuid.UUID) -> TaskRow | None:
    row = task(made, ident)
    return row if row.status in ("succeeded", "failed", "timed_out", "dead_lettered") else None


def serving(made: sessionmaker[Session], *idents: uuid.UUID) -> bool:
    return all(instance(made, ident).state in SERVING for ident in idents)


def test_a_task_is_answered_by_a_sandboxed_echo_instance_the_worker_hosts(
    made: sessionmaker[Session], migrated: Engine, tmp_path: Path, workers: list[Worker]
) -> None:
    (echo,) = instances(made)
    worker = hosting_worker(made, migrated, tmp_path, workers)
    wait_until(lambda: serving(made, echo), "the echo instance online", timeout=30)
    placed = instance(made, echo)
    assert placed.worker_id == worker.worker_id and placed.heartbeat_at is not None
    ident = submit(made, {"hello": [1, 2]})
    worker.notify()
    done = wait_until(lambda: finished(made, ident), "the echo task", timeout=30)
    assert (done.status, done.result, done.instance_id) == ("succeeded", {"hello": [1, 2]}, echo)
    assert done.started_at is not None and done.finished_at is not None
    wait_until(lambda: instance(made, echo).tasks_done == 1, "the count reported", timeout=10)


def test_a_crashing_instance_goes_to_error_and_is_restarted_with_backoff(
    made: sessionmaker[Session],
    migrated: Engine,
    tmp_path: Path,
    make_agent: Any,
    workers: list[Worker],
) -> None:
    folder = make_agent(CRASHER, name="crasher", scenarios=(), extra={})
    with (folder / "agent.toml").open("a", encoding="utf-8") as toml:
        toml.write('[service]\nhandles = ["echo"]\n')
    make = sandboxed_workers(IsolationLevel.PROCESS)

    def crasher(placement: Placement) -> Any:
        return make(Placement(placement.id, str(folder), placement.handles, 1))

    (echo,) = instances(made)
    worker = hosting_worker(made, migrated, tmp_path, workers, service_workers=crasher)
    wait_until(lambda: serving(made, echo), "the instance online", timeout=30)
    crash = submit(made, "crash", max_attempts=1)
    worker.notify()
    lost = wait_until(lambda: finished(made, crash), "the crashed task", timeout=30)
    assert lost.status == "dead_lettered" and "crashed" in (lost.error or "")
    assert worker.host is not None
    hosted = worker.host.instances[str(echo)]
    wait_until(
        lambda: hosted.report().restarts == 1 and hosted.state.value in SERVING,
        "a restart after the backoff",
        timeout=10,
    )
    steps = [t.target.value for t in hosted.lifecycle.history]
    assert steps[steps.index("error") :][:3] == ["error", "deploying", "online"]
    fine = submit(made, "fine")
    worker.notify()
    done = wait_until(lambda: finished(made, fine), "a task after the restart", timeout=30)
    assert (done.status, done.result) == ("succeeded", "fine")
    wait_until(lambda: instance(made, echo).restarts == 1, "the restart reported", timeout=10)


def test_a_stopped_instance_drains_and_goes_offline_while_another_serves(
    made: sessionmaker[Session], migrated: Engine, tmp_path: Path, workers: list[Worker]
) -> None:
    first, second = instances(made, replicas=2)
    worker = hosting_worker(made, migrated, tmp_path, workers)
    wait_until(lambda: serving(made, first, second), "both instances online", timeout=30)
    with made() as session:
        stop_instance(session, first)
    wait_until(lambda: instance(made, first).state == "offline", "the drained one offline", 30)
    assert instance(made, first).worker_id is None
    ident = submit(made, "after")
    worker.notify()
    done = wait_until(lambda: finished(made, ident), "a task after the stop", timeout=30)
    assert (done.status, done.instance_id) == ("succeeded", second)


def test_a_rolling_update_replaces_an_instance_and_loses_no_task(
    made: sessionmaker[Session], migrated: Engine, tmp_path: Path, workers: list[Worker]
) -> None:
    (old,) = instances(made)
    worker = hosting_worker(made, migrated, tmp_path, workers)
    wait_until(lambda: serving(made, old), "the old instance online", timeout=30)
    before = [submit(made, n) for n in range(5)]
    (new,) = instances(made)
    with made() as session:  # what roll_out stores for a new version of the agent
        session.execute(
            update(ServiceInstanceRow).where(ServiceInstanceRow.id == new).values(replaces=old)
        )
        session.commit()
    worker.notify()
    wait_until(lambda: instance(made, old).state == "offline", "the old one replaced", 30)
    assert serving(made, new)
    after = [submit(made, n) for n in range(5, 10)]
    worker.notify()
    for ident in before + after:
        done = wait_until(lambda i=ident: finished(made, i), "every task", timeout=30)
        assert done.status == "succeeded"
    assert {task(made, i).instance_id for i in after} == {new}


def test_the_tasks_and_instances_of_a_dead_worker_are_taken_over(
    made: sessionmaker[Session], migrated: Engine, tmp_path: Path, workers: list[Worker]
) -> None:
    (echo,) = instances(made)
    with made() as session:
        dead = register_worker(session, WorkerIdentity.here("dead"))
    ident = submit(made, "orphan")
    with made() as session:  # the dead worker had placed the instance and claimed the task
        session.execute(
            update(ServiceInstanceRow)
            .where(ServiceInstanceRow.id == echo)
            .values(worker_id=dead, state="idle")
        )
        session.commit()
        (claimed,) = claim_tasks(session, dead, {"echo": 1})
    assert claimed.id == ident and task(made, ident).status == "assigned"
    worker = hosting_worker(made, migrated, tmp_path, workers)  # lease_s=1.0
    done = wait_until(lambda: finished(made, ident), "the orphaned task", timeout=30)
    assert (done.status, done.result, done.attempts) == ("succeeded", "orphan", 2)
    assert instance(made, echo).worker_id == worker.worker_id
    with made() as session:
        held = session.scalars(select(TaskRow.id).where(TaskRow.worker_id == dead)).all()
    assert held == []


def test_a_worker_with_no_instances_hosts_none(
    made: sessionmaker[Session], migrated: Engine, tmp_path: Path, workers: list[Worker]
) -> None:
    (echo,) = instances(made)
    worker = hosting_worker(made, migrated, tmp_path, workers, instances=0)
    wait_until(lambda: worker.worker_id is not None and worker.played == 0, "registered")
    worker.stop()
    assert worker.host is None
    row = instance(made, echo)
    assert (row.state, row.worker_id) == ("registered", None)
