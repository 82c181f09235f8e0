"""Service instances as rows: start, list, stop, roll out, and the worker side's claims.

Every test runs on SQLite and on PostgreSQL (where claims use ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import threading
import uuid

import pytest
from service_fakes import make_user, make_worker
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.services.instances import (
    InstanceReport,
    claim_instances,
    get_instance,
    instance_stopped,
    list_instances,
    report_instances,
    roll_out,
    start_instances,
    stop_instance,
)
from devspark.store.db import session_factory
from devspark.store.models import AuditLogRow, ServiceInstanceRow, UserRow


@pytest.fixture
def owner(session: Session) -> UserRow:
    return make_user(session)


def test_start_instances_stores_registered_rows_with_their_audit_entry(
    session: Session, owner: UserRow
) -> None:
    rows = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo", replicas=3)
    assert [(r.state, r.desired, r.handles, r.agent_name) for r in rows] == [
        ("registered", "running", ["echo", "echo.slow"], "echo")
    ] * 3
    entry = session.scalars(select(AuditLogRow).where(AuditLogRow.action == "instance.start")).one()
    assert entry.detail["instances"] == [str(r.id) for r in rows]


def test_an_unknown_agent_is_refused_with_the_near_name(session: Session, owner: UserRow) -> None:
    with pytest.raises(InvalidArgumentError, match=r"agent='builtin:ecoh'.*`builtin:echo`"):
        start_instances(session, owner_id=owner.id, agent_ref="builtin:ecoh")
    assert session.scalar(select(ServiceInstanceRow.id)) is None


def test_an_agent_without_a_service_table_is_refused(session: Session, owner: UserRow) -> None:
    with pytest.raises(InvalidArgumentError, match=r"is not a service agent.*builtin:echo"):
        start_instances(session, owner_id=owner.id, agent_ref="builtin:grim")


@pytest.mark.parametrize("replicas", [0, 65])
def test_replicas_out_of_range_are_refused(session: Session, owner: UserRow, replicas: int) -> None:
    with pytest.raises(
        InvalidArgumentError, match=rf"replicas={replicas} must be between 1 and 64"
    ):
        start_instances(session, owner_id=owner.id, agent_ref="builtin:echo", replicas=replicas)


def test_an_unknown_uploaded_agent_is_refused(session: Session, owner: UserRow) -> None:
    with pytest.raises(InvalidArgumentError, match=r"agent='agent:nobody/svc'"):
        start_instances(session, owner_id=owner.id, agent_ref="agent:nobody/svc")


def test_list_instances_filters_by_capability_and_state(session: Session, owner: UserRow) -> None:
    echo = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo", replicas=2)
    best = start_instances(session, owner_id=owner.id, agent_ref="builtin:connect-four-alphabeta")
    rows, total = list_instances(session, capability="connect_four.best_move")
    assert (total, [r.id for r in rows]) == (1, [best[0].id])
    # "_" is a LIKE wildcard: a type differing only there must not match.
    assert list_instances(session, capability="connectxfour.best_move")[1] == 0
    assert {r.id for r in list_instances(session, capability="echo")[0]} == {r.id for r in echo}
    stop_instance(session, echo[0].id)
    rows, total = list_instances(session, state="offline")
    assert (total, rows[0].id) == (1, echo[0].id)


def test_list_instances_refuses_an_unknown_state(session: Session) -> None:
    with pytest.raises(InvalidArgumentError, match=r"state='onlin'.*`online`"):
        list_instances(session, state="onlin")


def test_stopping_an_unplaced_instance_ends_it_at_once(session: Session, owner: UserRow) -> None:
    (row,) = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")
    stopped = stop_instance(session, row.id)
    assert (stopped.state, stopped.desired) == ("offline", "stopped")
    assert claim_instances(session, make_worker(session), 5) == []


def test_stopping_a_placed_instance_drains_it_through_its_worker(
    session: Session, owner: UserRow
) -> None:
    (row,) = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")
    worker = make_worker(session)
    claim_instances(session, worker, 1)
    assert stop_instance(session, row.id).state == "maintenance"
    orders = report_instances(session, worker, [InstanceReport(id=row.id, state="maintenance")])
    assert orders.stop == (row.id,)
    instance_stopped(session, row.id)
    session.expire_all()
    got = get_instance(session, row.id)
    assert (got.state, got.worker_id) == ("offline", None)


def test_get_instance_names_a_missing_id(session: Session) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFoundError, match=str(missing)):
        get_instance(session, missing)


def test_claim_instances_places_the_oldest_up_to_the_limit(
    session: Session, owner: UserRow
) -> None:
    rows = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo", replicas=3)
    worker = make_worker(session)
    placed = claim_instances(session, worker, 2)
    assert {p.id for p in placed} <= {r.id for r in rows} and len(placed) == 2
    assert placed[0].agent_ref == "builtin:echo" and placed[0].handles == ("echo", "echo.slow")
    assert placed[0].concurrency == 1 and placed[0].replaces is None
    session.expire_all()
    states = {r.id: (r.state, r.worker_id) for r in session.scalars(select(ServiceInstanceRow))}
    assert sorted(states.values(), key=str).count(("deploying", worker)) == 2
    assert len(claim_instances(session, worker, 5)) == 1
    assert claim_instances(session, worker, 5) == []


def test_two_workers_never_claim_the_same_instance(migrated: Engine, session: Session) -> None:
    owner = make_user(session)
    start_instances(session, owner_id=owner.id, agent_ref="builtin:echo", replicas=40)
    factory: sessionmaker[Session] = session_factory(migrated)
    workers = [make_worker(session) for _ in range(4)]
    taken: list[uuid.UUID] = []
    lock = threading.Lock()

    def claim(worker: uuid.UUID) -> None:
        with factory() as mine:
            while True:
                got = claim_instances(mine, worker, 3)
                if not got:
                    return
                with lock:
                    taken.extend(p.id for p in got)

    threads = [threading.Thread(target=claim, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(taken) == 40 and len(set(taken)) == 40


def test_report_instances_records_state_and_beats_the_heartbeat(
    session: Session, owner: UserRow
) -> None:
    rows = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo", replicas=2)
    worker = make_worker(session)
    claim_instances(session, worker, 2)
    report = InstanceReport(
        id=rows[0].id, state="busy", load=1.5, in_flight=2, tasks_done=7, tasks_failed=1, restarts=1
    )
    orders = report_instances(session, worker, [report])
    assert orders.stop == () and orders.released == ()
    session.expire_all()
    first, second = (get_instance(session, r.id) for r in rows)
    assert (first.state, first.load, first.in_flight, first.tasks_done) == ("busy", 1.0, 2, 7)
    assert (first.tasks_failed, first.restarts) == (1, 1)
    assert first.heartbeat_at is not None and second.heartbeat_at is not None
    assert second.state == "deploying"


def test_a_report_with_an_unknown_state_records_nothing(session: Session, owner: UserRow) -> None:
    (row,) = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")
    worker = make_worker(session)
    claim_instances(session, worker, 1)
    with pytest.raises(InvalidArgumentError, match="state='sleepy'"):
        report_instances(session, worker, [InstanceReport(id=row.id, state="sleepy")])


def test_a_report_on_an_instance_held_elsewhere_says_it_was_released(
    session: Session, owner: UserRow
) -> None:
    (row,) = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")
    worker, other = make_worker(session), make_worker(session)
    claim_instances(session, other, 1)
    orders = report_instances(session, worker, [InstanceReport(id=row.id, state="online")])
    assert orders.released == (row.id,)
    session.expire_all()
    assert get_instance(session, row.id).state == "deploying"


def test_instance_stopped_with_an_error_unplaces_it_for_another_worker(
    session: Session, owner: UserRow
) -> None:
    (row,) = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")
    worker = make_worker(session)
    claim_instances(session, worker, 1)
    instance_stopped(session, row.id, error="crashed three times")
    session.expire_all()
    got = get_instance(session, row.id)
    assert (got.state, got.error, got.worker_id) == ("error", "crashed three times", None)
    assert [p.id for p in claim_instances(session, make_worker(session), 1)] == [row.id]


def _old_version(session: Session, owner: UserRow) -> ServiceInstanceRow:
    (row,) = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")
    row.version = "0.0.1"
    session.commit()
    return row


def test_roll_out_replaces_other_versions_one_for_one(session: Session, owner: UserRow) -> None:
    old = _old_version(session, owner)
    same = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")[0]
    new = roll_out(session, owner_id=owner.id, agent_ref="builtin:echo")
    assert [r.replaces for r in new] == [old.id]
    assert new[0].version == same.version
    # A second roll-out starts no second replacement.
    assert roll_out(session, owner_id=owner.id, agent_ref="builtin:echo") == []


def test_roll_out_replaces_only_the_callers_instances_unless_told(session: Session) -> None:
    ada, bob = make_user(session), make_user(session)
    old = _old_version(session, ada)
    assert roll_out(session, owner_id=bob.id, agent_ref="builtin:echo") == []
    replaced = roll_out(session, owner_id=bob.id, agent_ref="builtin:echo", only_owner=False)
    assert [r.replaces for r in replaced] == [old.id]


def test_an_old_instance_stops_once_its_replacement_serves(
    session: Session, owner: UserRow
) -> None:
    old = _old_version(session, owner)
    worker = make_worker(session)
    claim_instances(session, worker, 1)
    (new,) = roll_out(session, owner_id=owner.id, agent_ref="builtin:echo")
    claim_instances(session, worker, 1)
    waiting = report_instances(session, worker, [InstanceReport(id=new.id, state="deploying")])
    assert waiting.stop == ()
    serving = report_instances(session, worker, [InstanceReport(id=new.id, state="online")])
    assert serving.stop == (old.id,)
    session.expire_all()
    got = get_instance(session, old.id)
    assert (got.desired, got.state) == ("stopped", "maintenance")
