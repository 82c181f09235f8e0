"""The worker side of tasks: claims, start, progress, outcomes, expiry, lost workers.

A worker's hosting runtime takes queued tasks for the idle capacity of its instances with
:func:`claim_tasks` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two workers never take the
same task), marks one :func:`task_started` when an agent process gets it, stores
:func:`task_progress` and :func:`finish_task` with the agent's outcome. Housekeeping
calls :func:`expire_tasks` and :func:`requeue_orphans` (:func:`requeue_tasks_of` for
the workers found offline).

Each change publishes on the live topic ``task:<id>`` (:func:`task_topic`) when a
:class:`~devspark.services.live.LiveHub` is given, after the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import BindParameter, bindparam, select, update
from sqlalchemy.orm import Session

from devspark.core.status import TASK_FINAL, TaskStatus
from devspark.services.instance_work import publish_instance_state, release_instances_of
from devspark.services.live import LiveHub
from devspark.store.models import ServiceInstanceRow, TaskRow, UtcDateTime, WorkerRow, utcnow

_T = TaskRow
_UNFINISHED = (TaskStatus.QUEUED.value, TaskStatus.ASSIGNED.value, TaskStatus.RUNNING.value)
_HELD = (TaskStatus.ASSIGNED.value, TaskStatus.RUNNING.value)


def task_topic(task_id: uuid.UUID | str) -> str:
    """The live topic of one task's events."""
    return f"task:{task_id}"


def is_final(status: str) -> bool:
    """Whether a task in ``status`` is finished for good."""
    return status in TASK_FINAL


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """A task a worker took with :func:`claim_tasks`: ``assigned`` to it.

    Attributes:
        id: The task.
        type: Its type.
        payload: Its payload.
        to_instance: The instance it must go to (``None``: any local one of its type).
        priority: Its priority.
        attempts: This delivery's number (1 for the first).
        max_attempts: Deliveries allowed.
        deadline_at: When it times out; hand the agent what is left.
        parent_id: The task that submitted it, for a sub-task.

    """

    id: uuid.UUID
    type: str
    payload: Any
    to_instance: uuid.UUID | None
    priority: int
    attempts: int
    max_attempts: int
    deadline_at: datetime
    parent_id: uuid.UUID | None

    def time_left_ms(self, now: datetime | None = None) -> int:
        """Milliseconds left before its deadline (0 when past)."""
        left = self.deadline_at - (now or utcnow())
        return max(0, int(left.total_seconds() * 1000))


class Outcome(Protocol):
    """What a service agent did with a task (``core.ports.TaskOutcome`` has this shape)."""

    @property
    def ok(self) -> bool:
        """Whether it returned a result."""
        ...

    @property
    def result(self) -> Any:
        """The result when ``ok``."""
        ...

    @property
    def error(self) -> str:
        """What went wrong when not ``ok``."""
        ...

    @property
    def status(self) -> str:
        """``ok`` when the agent answered (even with an error); a fault status otherwise."""
        ...


# --------------------------------------------------------------------------- events


def publish_task_event(hub: LiveHub | None, task_id: uuid.UUID, kind: str, **data: Any) -> None:
    """Publish ``{"type": "task.<kind>", "id", **data}`` on ``task:<id>`` (no hub: nothing)."""
    if hub is not None:
        hub.publish(task_topic(task_id), {"type": f"task.{kind}", "id": str(task_id), **data})


def _finished(hub: LiveHub | None, row_id: uuid.UUID, status: str, result: Any, error: Any) -> None:
    publish_task_event(hub, row_id, "finished", status=status, result=result, error=error)


class _Statements:
    """The worker side's statements, built once at import."""

    def __init__(self) -> None:
        now: BindParameter[datetime] = bindparam("now", type_=UtcDateTime())
        # The instances this worker holds that take tasks (not draining): a subquery, so
        # a claim costs the same whether the worker hosts one instance or a thousand.
        local = select(ServiceInstanceRow.id).where(
            ServiceInstanceRow.worker_id == bindparam("worker"),
            ServiceInstanceRow.desired == "running",
        )
        queued = (
            select(_T.id)
            .where(
                _T.status == TaskStatus.QUEUED.value,
                _T.type == bindparam("task_type"),
                _T.deadline_at > now,
                (_T.to_instance.is_(None)) | _T.to_instance.in_(local),
            )
            .order_by(_T.priority.desc(), _T.created_at, _T.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )
        # A CTE that locks rows is computed once on PostgreSQL (see services.instances).
        picked = queued.cte("picked")
        self.claim = (
            update(_T)
            .where(_T.id.in_(select(picked.c.id)), _T.status == TaskStatus.QUEUED.value)
            .values(
                status=TaskStatus.ASSIGNED.value,
                attempts=_T.attempts + 1,
                worker_id=bindparam("worker"),
                assigned_at=now,
                error=None,
            )
            .returning(
                _T.id,
                _T.type,
                _T.payload,
                _T.to_instance,
                _T.priority,
                _T.attempts,
                _T.max_attempts,
                _T.deadline_at,
                _T.parent_id,
                _T.created_at,
            )
        )
        self.start = (
            update(_T)
            .where(_T.id == bindparam("task"), _T.status == TaskStatus.ASSIGNED.value)
            .values(
                status=TaskStatus.RUNNING.value, instance_id=bindparam("instance"), started_at=now
            )
        )
        self.progress = (
            update(_T)
            .where(_T.id == bindparam("task"), _T.status.in_(_HELD))
            .values(progress=bindparam("data", type_=_T.__table__.c.progress.type))
        )
        self.held = select(_T.status, _T.attempts, _T.max_attempts, _T.deadline_at).where(
            _T.id == bindparam("task"), _T.worker_id == bindparam("worker"), _T.status.in_(_HELD)
        )


_SQL = _Statements()


def claim_tasks(
    session: Session,
    worker_id: uuid.UUID,
    free: Mapping[str, int],
    *,
    hub: LiveHub | None = None,
) -> list[ClaimedTask]:
    """Take queued tasks for the idle capacity of a worker's instances (commits).

    For each task type with free capacity here (``free[type] > 0``: idle processes of
    the local instances that handle it), up to that many queued tasks of the type,
    highest priority first then oldest, not yet past their deadline, that go to any
    instance or to one this worker holds and that is not being stopped (``to``; a
    subquery on ``service_instances``, so the cost does not grow with the instances).
    Each is ``assigned`` to ``worker_id`` with ``attempts`` one higher. Rows other
    workers are claiming are skipped, not waited for (``SKIP LOCKED``);
    ``task.assigned`` is published for each.

    Args:
        session: Database session.
        worker_id: The claiming worker.
        free: Free capacity per task type.
        hub: Where live events go.

    Returns:
        The tasks taken, per type in claim order.

    """
    now = utcnow()
    claimed: list[ClaimedTask] = []
    for task_type, count in free.items():
        if count < 1:
            continue
        rows = session.execute(
            _SQL.claim,
            {
                "task_type": task_type,
                "limit": count,
                "worker": worker_id,
                "now": now,
            },
        )
        ordered = sorted(rows, key=lambda row: (-row.priority, row.created_at, str(row.id)))
        claimed.extend(ClaimedTask(*row[:-1]) for row in ordered)
    session.commit()
    for task in claimed:
        publish_task_event(
            hub, task.id, "assigned", status=TaskStatus.ASSIGNED.value, attempts=task.attempts
        )
    return claimed


def task_started(
    session: Session, task_id: uuid.UUID, instance_id: uuid.UUID, *, hub: LiveHub | None = None
) -> bool:
    """Mark an assigned task ``running`` on ``instance_id`` (commits); ``task.running``.

    Returns:
        Whether it was still ``assigned`` (``False``: it timed out or was given back meanwhile).

    """
    return tasks_started(session, [(task_id, instance_id)], hub=hub)[0]


def tasks_started(
    session: Session,
    starts: Sequence[tuple[uuid.UUID, uuid.UUID]],
    *,
    hub: LiveHub | None = None,
) -> list[bool]:
    """:func:`task_started` for several ``(task, instance)`` pairs in one transaction (commits).

    Returns:
        For each pair, whether its task was still ``assigned`` and is now ``running``.

    """
    now = utcnow()
    changed = []
    for task_id, instance_id in starts:
        done = session.execute(_SQL.start, {"task": task_id, "instance": instance_id, "now": now})
        changed.append(bool(getattr(done, "rowcount", 0)))
    session.commit()
    for (task_id, instance_id), running in zip(starts, changed, strict=True):
        if running:
            publish_task_event(
                hub,
                task_id,
                "running",
                status=TaskStatus.RUNNING.value,
                instance_id=str(instance_id),
            )
    return changed


def task_progress(
    session: Session, task_id: uuid.UUID, data: Any, *, hub: LiveHub | None = None
) -> None:
    """Store the latest progress of a held task (commits) and publish ``task.progress``.

    Every report is a write: call it at most every 100 ms per task (keep the latest
    and drop the ones in between), as the hosting runtime does.
    """
    session.execute(_SQL.progress, {"task": task_id, "data": data})
    session.commit()
    publish_task_event(hub, task_id, "progress", data=data)


def _fault_status(outcome: Outcome) -> str:
    return str(getattr(outcome.status, "value", outcome.status))


def finish_task(
    session: Session,
    task_id: uuid.UUID,
    worker_id: uuid.UUID,
    outcome: Outcome,
    *,
    hub: LiveHub | None = None,
) -> str | None:
    """Store what an agent did with a task ``worker_id`` holds (commits).

    * ``outcome.ok``: ``succeeded`` with its result;
    * the agent answered with an error (``status == "ok"``, not ``ok``): ``failed``;
    * the agent timed out (``status == "timeout"``) or the task is past its deadline:
      ``timed_out``;
    * another fault (crash, garbage, flood): ``queued`` again while attempts are
      left, else ``dead_lettered``.

    Returns:
        The task's new status; ``None`` when ``worker_id`` no longer holds it (it timed
        out, or the worker was reaped and the task given back): the outcome is dropped.

    """
    return finish_tasks(session, worker_id, [(task_id, outcome)], hub=hub)[0]


def finish_tasks(
    session: Session,
    worker_id: uuid.UUID,
    outcomes: Sequence[tuple[uuid.UUID, Outcome]],
    *,
    hub: LiveHub | None = None,
) -> list[str | None]:
    """:func:`finish_task` for several ``(task, outcome)`` pairs in one transaction (commits).

    Returns:
        Each task's new status, ``None`` for one ``worker_id`` no longer holds.

    """
    now = utcnow()
    stored = [
        _store_outcome(session, task_id, worker_id, outcome, now) for task_id, outcome in outcomes
    ]
    session.commit()
    statuses: list[str | None] = []
    for (task_id, _), change in zip(outcomes, stored, strict=True):
        if change is None:
            statuses.append(None)
            continue
        values, attempts = change
        status = str(values["status"])
        if status == TaskStatus.QUEUED.value:
            publish_task_event(hub, task_id, "queued", status=status, attempts=attempts)
        else:
            _finished(hub, task_id, status, values.get("result"), values.get("error"))
        statuses.append(status)
    return statuses


def _store_outcome(
    session: Session, task_id: uuid.UUID, worker_id: uuid.UUID, outcome: Outcome, now: datetime
) -> tuple[dict[str, Any], int] | None:
    """Write one outcome (no commit): the values set and the task's attempts, or ``None``."""
    held = session.execute(_SQL.held, {"task": task_id, "worker": worker_id}).first()
    if held is None:
        return None
    fault = _fault_status(outcome)
    values: dict[str, Any] = {"finished_at": now}
    if outcome.ok:
        values.update(status=TaskStatus.SUCCEEDED.value, result=outcome.result, error=None)
    elif fault == "ok":
        values.update(status=TaskStatus.FAILED.value, error=outcome.error[-4000:] or "failed")
    elif fault == "timeout" or held.deadline_at <= now:
        values.update(status=TaskStatus.TIMED_OUT.value, error=f"timeout: {outcome.error}"[-4000:])
    elif held.attempts < held.max_attempts:
        values = {
            "status": TaskStatus.QUEUED.value,
            "worker_id": None,
            "instance_id": None,
            "assigned_at": None,
            "started_at": None,
            "error": f"attempt {held.attempts} {fault}: {outcome.error}"[-4000:],
        }
    else:
        values.update(
            status=TaskStatus.DEAD_LETTERED.value,
            error=f"{held.attempts} attempts, the last {fault}: {outcome.error}"[-4000:],
        )
    session.execute(
        update(_T)
        .where(_T.id == task_id, _T.worker_id == worker_id, _T.status.in_(_HELD))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return values, int(held.attempts)


def expire_tasks(session: Session, *, hub: LiveHub | None = None) -> int:
    """End every unfinished task past its deadline ``timed_out`` (commits).

    Returns:
        How many tasks timed out.

    """
    now = utcnow()
    expired = session.execute(
        update(_T)
        .where(_T.status.in_(_UNFINISHED), _T.deadline_at <= now)
        .values(
            status=TaskStatus.TIMED_OUT.value,
            finished_at=now,
            error="timed out: not finished within its timeout_s",
        )
        .returning(_T.id)
        .execution_options(synchronize_session=False)
    )
    ids = list(expired.scalars())
    session.commit()
    for ident in ids:
        _finished(hub, ident, TaskStatus.TIMED_OUT.value, None, "timed out")
    return len(ids)


def requeue_tasks_of(
    session: Session, worker_ids: Iterable[uuid.UUID], *, hub: LiveHub | None = None
) -> int:
    """Give back the tasks and instances of workers that are gone (commits).

    Their ``assigned`` and ``running`` tasks are ``queued`` again, or ``dead_lettered``
    when that was their last attempt; their instances are unplaced (``registered`` for
    another worker, ``offline`` when being stopped).

    Returns:
        How many tasks went back to the queue.

    """
    ids = list(worker_ids)
    if not ids:
        return 0
    mine = (_T.worker_id.in_(ids), _T.status.in_(_HELD))
    lost = session.execute(
        update(_T)
        .where(*mine, _T.attempts >= _T.max_attempts)
        .values(
            status=TaskStatus.DEAD_LETTERED.value,
            finished_at=utcnow(),
            error="its worker stopped answering on its last attempt",
        )
        .returning(_T.id)
        .execution_options(synchronize_session=False)
    )
    dead = list(lost.scalars())
    back = session.execute(
        update(_T)
        .where(*mine)
        .values(
            status=TaskStatus.QUEUED.value,
            worker_id=None,
            instance_id=None,
            assigned_at=None,
            started_at=None,
        )
        .returning(_T.id)
        .execution_options(synchronize_session=False)
    )
    queued = list(back.scalars())
    released = release_instances_of(session, ids)
    session.commit()
    for instance_id, state in released:
        publish_instance_state(hub, instance_id, state)
    for ident in dead:
        _finished(hub, ident, TaskStatus.DEAD_LETTERED.value, None, "worker lost")
    for ident in queued:
        publish_task_event(hub, ident, "queued", status=TaskStatus.QUEUED.value)
    return len(queued)


def requeue_orphans(session: Session, *, hub: LiveHub | None = None) -> int:
    """Give back the tasks and instances that offline workers still hold (commits).

    Housekeeping: after :func:`~devspark.services.queue.reap` marked the silent workers
    offline, whatever they held goes back through :func:`requeue_tasks_of`.

    Returns:
        How many tasks went back to the queue.

    """
    offline = select(WorkerRow.id).where(WorkerRow.state == "offline")
    holders = set(
        session.scalars(
            select(_T.worker_id).where(_T.status.in_(_HELD), _T.worker_id.in_(offline)).distinct()
        )
    )
    holders.update(
        session.scalars(
            select(ServiceInstanceRow.worker_id)
            .where(ServiceInstanceRow.worker_id.in_(offline))
            .distinct()
        )
    )
    session.rollback()
    ids = [ident for ident in holders if ident is not None]
    return requeue_tasks_of(session, ids, hub=hub) if ids else 0


__all__ = [
    "ClaimedTask",
    "Outcome",
    "claim_tasks",
    "expire_tasks",
    "finish_task",
    "finish_tasks",
    "is_final",
    "publish_task_event",
    "requeue_orphans",
    "requeue_tasks_of",
    "task_progress",
    "task_started",
    "task_topic",
    "tasks_started",
]
