"""Service instances as rows: start, list, stop, roll out, and the worker side's claims.

Every test runs on SQLite and on PostgreSQL (where claims use ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from service_fakes import heard, make_user, make_worker
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.services.instance_work import RETRY_BASE_S, RETRY_CAP_S, retry_delay
from devspark.services.instances import (
    InstanceReport,
    claim_instances,
    get_instance,
    instance_heartbeats,
    instance_stopped,
    instance_topic,
    list_instances,
    report_instances,
    roll_out,
    start_instances,
    stop_instance,
)
from devspark.services.live import LiveHub, parse_topic
from devspark.store.db import session_factory
from devspark.store.models import AuditLogRow, ServiceInstanceRow, UserRow, WorkerRow, utcnow


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


def test_report_instances_records_state_and_publishes_it(session: Session, owner: UserRow) -> None:
    rows = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo", replicas=2)
    worker = make_worker(session)
    claim_instances(session, worker, 2)
    hub = LiveHub()
    seen = _events(hub, rows[0].id)
    report = InstanceReport(
        id=rows[0].id, state="busy", load=1.5, in_flight=2, tasks_done=7, tasks_failed=1, restarts=1
    )
    orders = report_instances(session, worker, [report], hub=hub)
    assert orders.stop == () and orders.released == ()
    session.expire_all()
    first, second = (get_instance(session, r.id) for r in rows)
    assert (first.state, first.load, first.in_flight, first.tasks_done) == ("busy", 1.0, 2, 7)
    assert (first.tasks_failed, first.restarts) == (1, 1)
    assert second.state == "deploying"
    assert seen == [
        {
            "topic": instance_topic(rows[0].id),
            "type": "instance.state",
            "id": str(rows[0].id),
            "state": "busy",
            "load": 1.0,
            "in_flight": 2,
            "error": None,
        }
    ]


def test_a_report_writes_only_the_changed_rows_and_heartbeats_are_the_workers(
    session: Session, owner: UserRow
) -> None:
    rows = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo", replicas=2)
    worker = make_worker(session)
    claim_instances(session, worker, 2)
    session.expire_all()
    before = {r.id: get_instance(session, r.id).updated_at for r in rows}
    report_instances(session, worker, [InstanceReport(id=rows[0].id, state="online")])
    report_instances(session, worker, [])
    session.expire_all()
    first, second = (get_instance(session, r.id) for r in rows)
    assert first.updated_at > before[first.id] and second.updated_at == before[second.id]
    beat = utcnow() + timedelta(seconds=30)
    session.execute(update(WorkerRow).where(WorkerRow.id == worker).values(heartbeat_at=beat))
    session.commit()
    assert instance_heartbeats(session, [first, second]) == {first.id: beat, second.id: beat}
    (never,) = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")
    instance_stopped(session, second.id)
    session.expire_all()
    stopped = get_instance(session, second.id)
    assert instance_heartbeats(session, [stopped, never]) == {
        stopped.id: stopped.heartbeat_at,
        never.id: None,
    }
    assert stopped.heartbeat_at is not None and stopped.heartbeat_at < beat


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


def test_a_failed_placement_is_an_error_retried_only_after_a_growing_delay(
    session: Session, owner: UserRow
) -> None:
    (row,) = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")
    worker = make_worker(session)
    hub = LiveHub()
    seen = _events(hub, row.id)
    delays = []
    for failures in (1, 2, 3):
        assert [p.id for p in claim_instances(session, worker, 1, hub=hub)] == [row.id]
        instance_stopped(session, row.id, error="cannot unpack its agent: bad archive", hub=hub)
        session.expire_all()
        got = get_instance(session, row.id)
        assert (got.state, got.worker_id, got.desired) == ("error", None, "running")
        assert (got.error, got.failures) == ("cannot unpack its agent: bad archive", failures)
        assert got.retry_at is not None
        delays.append(got.retry_at - got.updated_at)
        assert claim_instances(session, worker, 1) == []  # not before retry_at
        _due_now(session, row.id)
    assert delays == [retry_delay(1), retry_delay(2), retry_delay(3)]
    assert [d.total_seconds() for d in delays] == [RETRY_BASE_S, 2 * RETRY_BASE_S, 4 * RETRY_BASE_S]
    assert retry_delay(50).total_seconds() == RETRY_CAP_S
    assert [e["state"] for e in seen] == ["deploying", "error"] * 3
    assert seen[1]["error"] == "cannot unpack its agent: bad archive"
    claim_instances(session, worker, 1)
    session.expire_all()
    assert get_instance(session, row.id).retry_at is None
    report_instances(session, worker, [InstanceReport(id=row.id, state="online")])
    session.expire_all()
    assert get_instance(session, row.id).failures == 0


def _due_now(session: Session, ident: uuid.UUID) -> None:
    session.execute(
        update(ServiceInstanceRow)
        .where(ServiceInstanceRow.id == ident)
        .values(retry_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()


def test_instance_stopped_without_an_error_unplaces_it_for_another_worker(
    session: Session, owner: UserRow
) -> None:
    (row,) = start_instances(session, owner_id=owner.id, agent_ref="builtin:echo")
    worker = make_worker(session)
    claim_instances(session, worker, 1)
    instance_stopped(session, row.id)
    session.expire_all()
    got = get_instance(session, row.id)
    assert (got.state, got.error, got.worker_id, got.retry_at) == ("offline", None, None, None)
    assert [p.id for p in claim_instances(session, make_worker(session), 1)] == [row.id]


def test_instance_topics_are_accepted_by_clients() -> None:
    ident = uuid.uuid4()
    assert parse_topic(f"instance:{ident}") == instance_topic(ident)


def _events(hub: LiveHub, instance_id: uuid.UUID) -> list[dict[str, Any]]:
    return heard(hub, instance_topic(instance_id))


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
