"""Tasks as rows: submission refused at the door, claims, progress, outcomes, housekeeping.

Every test runs on SQLite and on PostgreSQL (where claims use ``FOR UPDATE SKIP LOCKED``).
Live events are checked on an unbound :class:`LiveHub` (a worker's), delivered on the
publishing thread.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from service_fakes import heard, hold_many, make_user, make_worker
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.core.ports import TaskOutcome
from devspark.core.results import AgentStatus
from devspark.core.status import TASK_STATUSES
from devspark.services.instances import (
    claim_instances,
    get_instance,
    instance_topic,
    start_instances,
    stop_instance,
)
from devspark.services.live import LiveHub, parse_topic
from devspark.services.tasks import (
    MAX_PAYLOAD_BYTES,
    TaskSpec,
    claim_tasks,
    count_tasks,
    expire_tasks,
    finish_task,
    finish_tasks,
    get_task,
    interaction_graph,
    list_tasks,
    requeue_orphans,
    requeue_tasks_of,
    submit_batch,
    submit_task,
    task_progress,
    task_started,
    task_topic,
    tasks_started,
)
from devspark.store.db import session_factory
from devspark.store.models import (
    AuditLogRow,
    ServiceInstanceRow,
    TaskRow,
    UserRow,
    WorkerRow,
    utcnow,
)


@pytest.fixture
def owner(session: Session) -> UserRow:
    return make_user(session)


@pytest.fixture
def echo(session: Session, owner: UserRow) -> ServiceInstanceRow:
    return start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")[0]


def _events(hub: LiveHub, task_id: uuid.UUID) -> list[dict[str, Any]]:
    return heard(hub, task_topic(task_id))


def _submit(session: Session, owner: UserRow, **fields: Any) -> TaskRow:
    return submit_task(session, TaskSpec(**{"type": "echo", **fields}), owner_id=owner.id)


@pytest.mark.usefixtures("echo")
def test_submit_task_queues_it_with_its_audit_entry(session: Session, owner: UserRow) -> None:
    row = _submit(session, owner, payload={"x": [1, 2]}, priority=7, timeout_s=5)
    got = get_task(session, row.id)
    assert (got.status, got.payload, got.priority, got.attempts) == ("queued", {"x": [1, 2]}, 7, 0)
    assert got.deadline_at - got.created_at == timedelta(seconds=5)
    entry = session.scalars(select(AuditLogRow).where(AuditLogRow.action == "task.submit")).one()
    assert entry.target_id == str(row.id)


@pytest.mark.usefixtures("echo")
def test_a_type_nobody_handles_is_refused_with_the_near_type(
    session: Session, owner: UserRow
) -> None:
    with pytest.raises(InvalidArgumentError, match=r"type='ecko'.*no running .*`echo`"):
        _submit(session, owner, type="ecko")
    assert session.scalar(select(TaskRow.id)) is None


def test_a_type_of_a_stopped_instance_is_refused(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    stop_instance(session, echo.id)
    with pytest.raises(InvalidArgumentError, match=r"type='echo': no running service instance"):
        _submit(session, owner)


def test_a_task_with_no_instance_running_says_how_to_start_one(
    session: Session, owner: UserRow
) -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"no instance runs yet: start one with POST /api/v1/instances"
    ):
        _submit(session, owner, type="summary.count")


@pytest.mark.usefixtures("echo")
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"priority": 0}, r"priority=0 must be an integer from 1 to 10"),
        ({"timeout_s": 3601}, r"timeout_s=3601 must be an integer from 1 to 3600"),
        ({"max_attempts": 11}, r"max_attempts=11 must be an integer from 1 to 10"),
        ({"type": "Echo!"}, r"type='Echo!' is not a task type"),
        ({"payload": "x" * MAX_PAYLOAD_BYTES}, r"payload is 262146 bytes of JSON; the limit"),
        ({"payload": float("nan")}, r"payload is not JSON"),
    ],
)
def test_out_of_range_fields_are_refused(
    session: Session, owner: UserRow, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        _submit(session, owner, **fields)


def test_to_must_name_a_running_instance_that_handles_the_type(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    missing = uuid.uuid4()
    with pytest.raises(InvalidArgumentError, match=rf"to='{missing}': no such running"):
        _submit(session, owner, to=missing)
    start_instances(session, owner_id=owner.id, agent_ref="builtin:connect-four-alphabeta")
    with pytest.raises(
        InvalidArgumentError, match=r"does not handle type 'connect_four.best_move'"
    ):
        _submit(session, owner, type="connect_four.best_move", to=echo.id)
    assert _submit(session, owner, to=echo.id).to_instance == echo.id


@pytest.mark.usefixtures("echo")
def test_a_batch_is_all_or_none_and_names_the_bad_task(session: Session, owner: UserRow) -> None:
    specs = [TaskSpec(type="echo"), TaskSpec(type="echo", priority=99)]
    with pytest.raises(InvalidArgumentError, match=r"tasks\[1\]\.priority=99"):
        submit_batch(session, specs, owner_id=owner.id)
    assert session.scalar(select(TaskRow.id)) is None
    rows = submit_batch(
        session, [TaskSpec(type="echo", payload=i) for i in range(3)], owner_id=owner.id
    )
    assert [r.payload for r in rows] == [0, 1, 2]
    with pytest.raises(InvalidArgumentError, match=r"tasks must hold 1 to 100 tasks, got 0"):
        submit_batch(session, [], owner_id=owner.id)


@pytest.mark.usefixtures("echo")
def test_list_tasks_filters_by_status_and_type(session: Session, owner: UserRow) -> None:
    first, second = _submit(session, owner), _submit(session, owner)
    session.execute(update(TaskRow).where(TaskRow.id == first.id).values(status="succeeded"))
    session.commit()
    rows, total = list_tasks(session, status="queued", type="echo")
    assert (total, [r.id for r in rows]) == (1, [second.id])
    with pytest.raises(InvalidArgumentError, match=r"status='queud'.*`queued`"):
        list_tasks(session, status="queud")


def test_get_task_names_a_missing_id(session: Session) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFoundError, match=str(missing)):
        get_task(session, missing)


@pytest.mark.usefixtures("echo")
def test_claim_tasks_takes_the_highest_priority_then_the_oldest(
    session: Session, owner: UserRow
) -> None:
    low = _submit(session, owner, priority=1)
    old = _submit(session, owner, priority=9)
    new = _submit(session, owner, priority=9)
    worker = make_worker(session)
    claimed = claim_tasks(session, worker, {"echo": 2})
    assert [c.id for c in claimed] == [old.id, new.id]
    assert claimed[0].attempts == 1 and 0 < claimed[0].time_left_ms() <= 30_000
    assert [c.id for c in claim_tasks(session, worker, {"echo": 5, "other": 0})] == [low.id]
    session.expire_all()
    got = get_task(session, low.id)
    assert (got.status, got.worker_id, got.attempts) == ("assigned", worker, 1)


def test_a_task_sent_to_an_instance_is_claimed_only_where_it_lives(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    directed = _submit(session, owner, to=echo.id)
    here, there = make_worker(session), make_worker(session)
    assert claim_tasks(session, here, {"echo": 3}) == []  # placed nowhere yet
    claim_instances(session, here, 1)
    assert claim_tasks(session, there, {"echo": 3}) == []
    (claimed,) = claim_tasks(session, here, {"echo": 3})
    assert (claimed.id, claimed.to_instance) == (directed.id, echo.id)


def test_a_task_sent_to_a_draining_instance_is_not_claimed(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    worker = make_worker(session)
    claim_instances(session, worker, 1)
    directed = _submit(session, owner, to=echo.id)
    stop_instance(session, echo.id)
    assert claim_tasks(session, worker, {"echo": 3}) == []
    session.expire_all()
    assert get_task(session, directed.id).status == "queued"


def test_a_claim_among_a_thousand_local_instances_takes_the_one_addressed(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    worker = make_worker(session)
    claim_instances(session, worker, 1)
    hold_many(session, owner.id, worker, 1000)
    anyone, directed = _submit(session, owner), _submit(session, owner, to=echo.id)
    claimed = claim_tasks(session, worker, {"echo": 5})
    assert sorted(str(c.id) for c in claimed) == sorted([str(anyone.id), str(directed.id)])


@pytest.mark.usefixtures("echo")
def test_a_task_past_its_deadline_is_not_claimed_but_expired(
    session: Session, owner: UserRow
) -> None:
    row = _submit(session, owner, timeout_s=1)
    session.execute(
        update(TaskRow)
        .where(TaskRow.id == row.id)
        .values(deadline_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    hub = LiveHub()
    events = _events(hub, row.id)
    assert claim_tasks(session, make_worker(session), {"echo": 1}) == []
    assert expire_tasks(session, hub=hub) == 1
    session.expire_all()
    assert get_task(session, row.id).status == "timed_out"
    assert events[-1]["type"] == "task.finished" and events[-1]["status"] == "timed_out"


@pytest.mark.usefixtures("echo")
def test_two_workers_never_claim_the_same_task(migrated: Engine, session: Session) -> None:
    owner = make_user(session)
    submit_batch(session, [TaskSpec(type="echo", payload=i) for i in range(60)], owner_id=owner.id)
    factory: sessionmaker[Session] = session_factory(migrated)
    workers = [make_worker(session) for _ in range(4)]
    taken: list[uuid.UUID] = []
    lock = threading.Lock()

    def claim(worker: uuid.UUID) -> None:
        with factory() as mine:
            while got := claim_tasks(mine, worker, {"echo": 4}):
                with lock:
                    taken.extend(c.id for c in got)

    threads = [threading.Thread(target=claim, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(taken) == 60 and len(set(taken)) == 60


def test_a_task_runs_reports_progress_and_succeeds_with_its_events(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    hub = LiveHub()
    row = _submit(session, owner, payload="hi")
    events = _events(hub, row.id)
    worker = make_worker(session)
    (claimed,) = claim_tasks(session, worker, {"echo": 1}, hub=hub)
    assert task_started(session, claimed.id, echo.id, hub=hub)
    task_progress(session, claimed.id, {"step": 1}, hub=hub)
    status = finish_task(session, claimed.id, worker, TaskOutcome(ok=True, result="hi"), hub=hub)
    assert status == "succeeded"
    session.expire_all()
    got = get_task(session, row.id)
    assert (got.status, got.result, got.progress, got.instance_id) == (
        "succeeded",
        "hi",
        {"step": 1},
        echo.id,
    )
    assert got.finished_at is not None and got.started_at is not None
    assert [e["type"] for e in events] == [
        "task.assigned",
        "task.running",
        "task.progress",
        "task.finished",
    ]
    assert events[2]["data"] == {"step": 1}
    assert events[3] | {"topic": None} == {
        "topic": None,
        "type": "task.finished",
        "id": str(row.id),
        "status": "succeeded",
        "result": "hi",
        "error": None,
    }


@pytest.mark.usefixtures("echo")
def test_an_agent_error_fails_the_task_at_once(session: Session, owner: UserRow) -> None:
    row = _submit(session, owner)
    worker = make_worker(session)
    claim_tasks(session, worker, {"echo": 1})
    outcome = TaskOutcome(ok=False, error="ValueError: bad payload")
    assert finish_task(session, row.id, worker, outcome) == "failed"
    session.expire_all()
    assert get_task(session, row.id).error == "ValueError: bad payload"


@pytest.mark.usefixtures("echo")
def test_a_fault_requeues_until_the_last_attempt_then_dead_letters(
    session: Session, owner: UserRow
) -> None:
    row = _submit(session, owner, max_attempts=2)
    worker = make_worker(session)
    crash = TaskOutcome(ok=False, error="exit 139", status=AgentStatus.CRASHED)
    claim_tasks(session, worker, {"echo": 1})
    assert finish_task(session, row.id, worker, crash) == "queued"
    claim_tasks(session, worker, {"echo": 1})
    assert finish_task(session, row.id, worker, crash) == "dead_lettered"
    session.expire_all()
    got = get_task(session, row.id)
    assert (got.attempts, got.error) == (2, "2 attempts, the last crashed: exit 139")


@pytest.mark.usefixtures("echo")
def test_an_agent_timeout_times_the_task_out(session: Session, owner: UserRow) -> None:
    row = _submit(session, owner)
    worker = make_worker(session)
    claim_tasks(session, worker, {"echo": 1})
    outcome = TaskOutcome(ok=False, error="no answer in 30000 ms", status=AgentStatus.TIMEOUT)
    assert finish_task(session, row.id, worker, outcome) == "timed_out"


@pytest.mark.usefixtures("echo")
def test_the_outcome_of_a_worker_that_lost_the_task_is_dropped(
    session: Session, owner: UserRow
) -> None:
    row = _submit(session, owner)
    worker = make_worker(session)
    claim_tasks(session, worker, {"echo": 1})
    assert requeue_tasks_of(session, [worker]) == 1
    assert finish_task(session, row.id, worker, TaskOutcome(ok=True, result=1)) is None
    session.expire_all()
    assert get_task(session, row.id).status == "queued"


def test_requeue_tasks_of_gives_back_tasks_and_instances(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    worker = make_worker(session)
    claim_instances(session, worker, 1)
    again = _submit(session, owner)
    last = _submit(session, owner, max_attempts=1)
    claim_tasks(session, worker, {"echo": 2})
    task_started(session, again.id, echo.id)
    hub = LiveHub()
    events = _events(hub, last.id)
    assert requeue_tasks_of(session, [worker], hub=hub) == 1
    session.expire_all()
    back = get_task(session, again.id)
    assert (back.status, back.worker_id, back.instance_id) == ("queued", None, None)
    assert get_task(session, last.id).status == "dead_lettered"
    assert events[-1]["status"] == "dead_lettered"
    instance = get_instance(session, echo.id)
    assert (instance.state, instance.worker_id) == ("registered", None)


def test_requeue_orphans_gives_back_what_offline_workers_hold(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    gone, alive = make_worker(session), make_worker(session)
    claim_instances(session, gone, 1)
    held = _submit(session, owner)
    claim_tasks(session, gone, {"echo": 1})
    (other,) = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")
    claim_instances(session, alive, 1)
    hub = LiveHub()
    seen = heard(hub, instance_topic(echo.id))
    assert requeue_orphans(session, hub=hub) == 0  # both workers are still online
    session.execute(update(WorkerRow).where(WorkerRow.id == gone).values(state="offline"))
    session.commit()
    assert requeue_orphans(session, hub=hub) == 1
    session.expire_all()
    assert (get_task(session, held.id).status, get_task(session, held.id).worker_id) == (
        "queued",
        None,
    )
    assert (get_instance(session, echo.id).state, get_instance(session, echo.id).worker_id) == (
        "registered",
        None,
    )
    assert get_instance(session, other.id).worker_id == alive
    assert [e["state"] for e in seen] == ["registered"]
    assert requeue_orphans(session, hub=hub) == 0


def test_count_tasks_names_every_status(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    assert count_tasks(session) == dict.fromkeys(TASK_STATUSES, 0)
    worker = make_worker(session)
    claim_instances(session, worker, 1)
    for _ in range(3):
        _submit(session, owner)
    (first,) = claim_tasks(session, worker, {"echo": 1})
    finish_task(session, first.id, worker, TaskOutcome(ok=True, result=1))
    claim_tasks(session, worker, {"echo": 1})
    counts = count_tasks(session)
    assert list(counts) == list(TASK_STATUSES)
    assert {k: v for k, v in counts.items() if v} == {"queued": 1, "assigned": 1, "succeeded": 1}


def test_task_started_refuses_a_task_no_longer_assigned(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    row = _submit(session, owner)
    assert not task_started(session, row.id, echo.id)


def test_the_interaction_graph_shows_users_and_sub_tasks(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    (best,) = start_instances(
        session, owner_id=owner.id, agent_ref="builtin:connect-four-alphabeta"
    )
    worker = make_worker(session)
    parent = _submit(session, owner)
    claim_tasks(session, worker, {"echo": 1})
    task_started(session, parent.id, echo.id)
    child = submit_task(
        session, TaskSpec(type="connect_four.best_move"), owner_id=owner.id, parent_id=parent.id
    )
    claim_tasks(session, worker, {"connect_four.best_move": 1})
    task_started(session, child.id, best.id)
    nodes, edges = interaction_graph(session, since_s=60)
    assert {(e.source, e.target, e.count, e.kind) for e in edges} == {
        (f"user:{owner.id}", str(echo.id), 1, "task"),
        (str(echo.id), str(best.id), 1, "subtask"),
    }
    assert {(n.id, n.kind) for n in nodes} == {
        (f"user:{owner.id}", "user"),
        (str(echo.id), "instance"),
        (str(best.id), "instance"),
    }


def test_task_topics_are_accepted_by_clients() -> None:
    ident = uuid.uuid4()
    assert parse_topic(f"task:{ident}") == task_topic(ident)
    with pytest.raises(ValueError, match="'task:<id>'"):
        parse_topic(f"tasks:{ident}")


def test_starts_and_outcomes_of_several_tasks_are_stored_in_one_transaction(
    session: Session, owner: UserRow, echo: ServiceInstanceRow
) -> None:
    worker = make_worker(session)
    claim_instances(session, worker, 1)
    rows = [_submit(session, owner, payload=n) for n in range(3)]
    stray = _submit(session, owner)  # never claimed: neither started nor finished
    claim_tasks(session, worker, {"echo": 3})
    hub = LiveHub()
    heard_first = _events(hub, rows[0].id)
    starts = [(row.id, echo.id) for row in [*rows, stray]]
    assert tasks_started(session, starts, hub=hub) == [True, True, True, False]
    crash = TaskOutcome(ok=False, error="exit 139", status=AgentStatus.CRASHED)
    outcomes = [
        (rows[0].id, TaskOutcome(ok=True, result=0)),
        (rows[1].id, TaskOutcome(ok=False, error="no", status=AgentStatus.OK)),
        (rows[2].id, crash),
        (stray.id, TaskOutcome(ok=True, result=9)),
    ]
    assert finish_tasks(session, worker, outcomes, hub=hub) == [
        "succeeded",
        "failed",
        "queued",
        None,
    ]
    session.expire_all()
    assert [get_task(session, r.id).status for r in [*rows, stray]] == [
        "succeeded",
        "failed",
        "queued",
        "queued",
    ]
    assert [e["type"] for e in heard_first] == ["task.running", "task.finished"]
