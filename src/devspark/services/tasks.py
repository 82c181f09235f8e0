"""Tasks for service agents, as rows: submitted, claimed by workers, run, finished.

A task is a :class:`~devspark.store.models.TaskRow`: a ``type``, a JSON ``payload``,
``priority`` 1..10, ``timeout_s`` and ``max_attempts``. Its life::

    queued -> assigned -> running -> succeeded | failed | timed_out | dead_lettered
       ^          |          |
       +----------+----------+  (a fault with attempts left, or its worker was reaped)

* :func:`submit_task` / :func:`submit_batch` refuse at the door what no instance could
  take: a type no running instance handles (with the near types), a ``to`` that is not
  a live instance handling the type, a payload over :data:`MAX_PAYLOAD_BYTES`.
* A worker's hosting runtime takes queued tasks for its idle capacity with
  :func:`claim_tasks` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), marks one
  :func:`task_started` when an agent process gets it, stores :func:`task_progress`
  and :func:`finish_task` with the agent's outcome (the worker side lives in
  :mod:`devspark.services.task_work` and is re-exported here).
* Housekeeping calls :func:`expire_tasks` (past ``deadline_at``: ``timed_out``) and
  :func:`requeue_orphans` (:func:`requeue_tasks_of` for the workers reaped offline).
* :func:`count_tasks` counts the tasks in each status (one ``GROUP BY``).

Every change publishes on the live topic ``task:<id>`` (:func:`task_topic`) when a
:class:`~devspark.services.live.LiveHub` is given: ``task.queued``, ``task.assigned``,
``task.running``, ``task.progress`` (``{"data"}``) and ``task.finished``
(``{"status", "result", "error"}``). Events are published after the commit.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from devspark.core.errors import InvalidArgumentError, NotFoundError, did_you_mean
from devspark.core.status import TASK_STATUSES, TaskStatus
from devspark.services.audit import SYSTEM, AuditContext
from devspark.services.instances import check_task_type, handles_clause
from devspark.services.live import LiveHub
from devspark.services.matches import window
from devspark.services.task_work import (
    ClaimedTask,
    Outcome,
    claim_tasks,
    expire_tasks,
    finish_task,
    finish_tasks,
    is_final,
    publish_task_event,
    requeue_orphans,
    requeue_tasks_of,
    task_progress,
    task_started,
    task_topic,
    tasks_started,
)
from devspark.services.transaction import in_transaction
from devspark.store.models import ServiceInstanceRow, TaskRow, UserRow, utcnow

MAX_PAYLOAD_BYTES = 256 * 1024
"""The largest task payload, as compact JSON."""

MAX_BATCH = 100
"""The most tasks one :func:`submit_batch` takes."""

FALLBACK_POLL_S = 1.0
"""How often :func:`wait_finished` re-reads its task (for a worker whose events it cannot hear)."""


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What a caller asks of a service agent.

    Attributes:
        type: The task type (an instance's manifest ``handles`` it).
        payload: Any JSON value, at most :data:`MAX_PAYLOAD_BYTES`.
        to: One instance that must take it (``None``: any that handles the type).
        priority: 1..10, higher first.
        timeout_s: 1..3600 seconds from submission to the end.
        max_attempts: 1..10 deliveries before it is dead-lettered.

    """

    type: str
    payload: Any = None
    to: uuid.UUID | None = None
    priority: int = 5
    timeout_s: int = 30
    max_attempts: int = 3


# --------------------------------------------------------------------------- submission


def _range(field: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"{field}={value!r} must be an integer from {low} to {high}")
    return value


def _serving_types(session: Session) -> list[str]:
    found: set[str] = set()
    for handles in session.scalars(
        select(ServiceInstanceRow.handles).where(ServiceInstanceRow.desired == "running")
    ):
        found.update(handles)
    return sorted(found)


def _check_spec(session: Session, spec: TaskSpec, prefix: str = "") -> None:
    """Raise unless some live instance could take ``spec``; names fields with ``prefix``."""
    check_task_type(spec.type, f"{prefix}type")
    _range(f"{prefix}priority", spec.priority, 1, 10)
    _range(f"{prefix}timeout_s", spec.timeout_s, 1, 3600)
    _range(f"{prefix}max_attempts", spec.max_attempts, 1, 10)
    try:
        size = len(json.dumps(spec.payload, separators=(",", ":"), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{prefix}payload is not JSON: {exc}") from None
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidArgumentError(
            f"{prefix}payload is {size} bytes of JSON; the limit is {MAX_PAYLOAD_BYTES}"
        )
    if spec.to is not None:
        row = session.get(ServiceInstanceRow, spec.to)
        if row is None or row.desired != "running":
            raise InvalidArgumentError(
                f"{prefix}to={str(spec.to)!r}: no such running service instance"
            )
        if spec.type not in row.handles:
            raise InvalidArgumentError(
                f"{prefix}to={str(spec.to)!r}: instance does not handle type {spec.type!r} "
                f"(it handles: {', '.join(row.handles)})"
            )
        return
    serving = select(ServiceInstanceRow.id).where(
        ServiceInstanceRow.desired == "running", handles_clause(spec.type)
    )
    if session.scalar(serving.limit(1)) is None:
        types = _serving_types(session)
        raise InvalidArgumentError(
            f"{prefix}type={spec.type!r}: no running service instance handles it"
            + (
                did_you_mean(spec.type, types)
                or (f" (types served: {', '.join(types)})" if types else _NO_INSTANCES)
            )
        )


_NO_INSTANCES = (
    " (no instance runs yet: start one with POST /api/v1/instances or "
    "`devspark instances start builtin:echo`, which handles `echo`)"
)


def _row(spec: TaskSpec, owner_id: uuid.UUID | None, parent_id: uuid.UUID | None) -> TaskRow:
    now = utcnow()
    return TaskRow(
        owner_id=owner_id,
        type=spec.type,
        payload=spec.payload,
        to_instance=spec.to,
        priority=spec.priority,
        timeout_s=spec.timeout_s,
        max_attempts=spec.max_attempts,
        attempts=0,
        status=TaskStatus.QUEUED.value,
        parent_id=parent_id,
        created_at=now,
        deadline_at=now + timedelta(seconds=spec.timeout_s),
    )


def submit_task(
    session: Session,
    spec: TaskSpec,
    *,
    owner_id: uuid.UUID | None,
    audit: AuditContext = SYSTEM,
    parent_id: uuid.UUID | None = None,
    hub: LiveHub | None = None,
) -> TaskRow:
    """Queue a task with its audit entry (one commit); ``task.queued`` on its topic.

    Args:
        session: Database session.
        spec: What to do.
        owner_id: Who submits it (for a sub-task: its parent's owner).
        audit: Who acts (``task.submit``).
        parent_id: The task whose agent submits this one.
        hub: Where its live events go.

    Raises:
        InvalidArgumentError: A field out of range, a payload over the limit or not
            JSON, a type no running instance handles (with the near types), or a ``to``
            that is not a running instance handling the type.

    """

    def change() -> TaskRow:
        _check_spec(session, spec)
        row = _row(spec, owner_id, parent_id)
        session.add(row)
        session.flush()
        audit.record(session, "task.submit", "task", row.id, type=spec.type)
        return row

    row = in_transaction(session, change)
    publish_task_event(hub, row.id, "queued", status=row.status)
    return row


def submit_batch(
    session: Session,
    specs: Sequence[TaskSpec],
    *,
    owner_id: uuid.UUID | None,
    audit: AuditContext = SYSTEM,
    hub: LiveHub | None = None,
) -> list[TaskRow]:
    """Queue 1..:data:`MAX_BATCH` tasks, all or none (one commit, one audit entry).

    Raises:
        InvalidArgumentError: No task or too many, or one refused as by
            :func:`submit_task`, named ``tasks[i].field``.

    """
    if not 1 <= len(specs) <= MAX_BATCH:
        raise InvalidArgumentError(f"tasks must hold 1 to {MAX_BATCH} tasks, got {len(specs)}")

    def change() -> list[TaskRow]:
        for index, spec in enumerate(specs):
            _check_spec(session, spec, f"tasks[{index}].")
        rows = [_row(spec, owner_id, None) for spec in specs]
        session.add_all(rows)
        session.flush()
        audit.record(
            session, "task.submit_batch", "task", rows[0].id, tasks=[str(r.id) for r in rows]
        )
        return rows

    rows = in_transaction(session, change)
    for row in rows:
        publish_task_event(hub, row.id, "queued", status=row.status)
    return rows


# --------------------------------------------------------------------------- reads


def get_task(session: Session, task_id: uuid.UUID) -> TaskRow:
    """The task ``task_id``.

    Raises:
        NotFoundError: No such task.

    """
    row = session.get(TaskRow, task_id)
    if row is None:
        raise NotFoundError(f"task_id {str(task_id)!r}: no such task")
    return row


def list_tasks(
    session: Session,
    *,
    status: str | None = None,
    type: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[TaskRow], int]:
    """One window of the tasks, newest first, and how many match in all.

    Raises:
        InvalidArgumentError: ``status`` is not a task status, or ``type`` not a task type.

    """
    query = select(TaskRow)
    if status is not None:
        if status not in TASK_STATUSES:
            raise InvalidArgumentError(
                f"status={status!r} is not one of: {', '.join(TASK_STATUSES)}"
                + did_you_mean(status, TASK_STATUSES)
            )
        query = query.where(TaskRow.status == status)
    if type is not None:
        query = query.where(TaskRow.type == check_task_type(type))
    return window(session, query.order_by(TaskRow.created_at.desc(), TaskRow.id), offset, limit)


def count_tasks(session: Session, *, type: str | None = None) -> dict[str, int]:
    """How many tasks are in each status, every status named (zero included; one query).

    Args:
        session: Database session.
        type: Only tasks of this type.

    Raises:
        InvalidArgumentError: ``type`` is not a task type.

    """
    counts = dict.fromkeys(TASK_STATUSES, 0)
    query = select(TaskRow.status, func.count()).group_by(TaskRow.status)
    if type is not None:
        query = query.where(TaskRow.type == check_task_type(type))
    rows = session.execute(query)
    for status, count in rows:
        counts[status] = int(count)
    return counts


def read_fresh(session: Session, task_id: uuid.UUID) -> TaskRow:
    """Read a task as it is now, holding no connection afterwards (for waits)."""
    session.expire_all()
    row = get_task(session, task_id)
    session.rollback()  # hold no connection while waiting
    return row


async def wait_finished(
    hub: LiveHub, read: Callable[[], Awaitable[TaskRow]], task_id: uuid.UUID, wait_s: float
) -> TaskRow | None:
    """Wait on the event loop until a task is finished; ``None`` when ``wait_s`` passes first.

    Waits on the hub's ``task:<id>`` topic for ``task.finished`` (published by the worker
    that finishes it, here or, through the bus bridge, in another process). It subscribes
    before reading the row, so an event published after the read is not missed. Without
    a bridge, a worker in another process publishes nowhere this hub hears: the row is
    also re-read every :data:`FALLBACK_POLL_S` seconds.

    Args:
        hub: A hub bound to the running loop (a server's).
        read: Reads the task as it is now (:func:`read_fresh` in a thread, holding a
            database slot only while it reads).
        task_id: The task.
        wait_s: The most seconds to wait.

    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    subscription = hub.subscribe(task_topic(task_id))
    try:
        while True:
            row = await read()
            if is_final(row.status):
                return row
            left = deadline - loop.time()
            if left <= 0:
                return None
            try:
                async with asyncio.timeout(min(left, FALLBACK_POLL_S)):
                    while (await subscription.get()).get("type") not in _WAKE:
                        pass
            except TimeoutError:
                pass
    finally:
        hub.unsubscribe(subscription)


_WAKE = ("task.finished", "dropped")


# --------------------------------------------------------------------------- graph


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A node of the interaction graph: an instance, or a user who submitted tasks."""

    id: str
    label: str
    kind: str


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """Who asked whom, how often: ``task`` (user -> instance) or ``subtask``."""

    source: str
    target: str
    count: int
    kind: str


def interaction_graph(
    session: Session, *, since_s: int = 3600
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """Who asked whom among users and instances over the last ``since_s`` seconds.

    A sub-task draws an edge from its parent task's instance to its own; a task a
    user submitted draws one from the user to its instance.

    Raises:
        InvalidArgumentError: ``since_s`` is not 1..604800.

    """
    _range("since_s", since_s, 1, 7 * 24 * 3600)
    cutoff = utcnow() - timedelta(seconds=since_s)
    parent = aliased(TaskRow)
    recent = (TaskRow.created_at >= cutoff, TaskRow.instance_id.is_not(None))
    user_edges = session.execute(
        select(TaskRow.owner_id, TaskRow.instance_id, func.count())
        .where(*recent, TaskRow.parent_id.is_(None), TaskRow.owner_id.is_not(None))
        .group_by(TaskRow.owner_id, TaskRow.instance_id)
    ).all()
    sub_edges = session.execute(
        select(parent.instance_id, TaskRow.instance_id, func.count())
        .join(parent, parent.id == TaskRow.parent_id)
        .where(*recent, parent.instance_id.is_not(None))
        .group_by(parent.instance_id, TaskRow.instance_id)
    ).all()
    edges = [GraphEdge(f"user:{u}", str(i), n, "task") for u, i, n in user_edges]
    edges += [GraphEdge(str(a), str(b), n, "subtask") for a, b, n in sub_edges]
    users = {u for u, _, _ in user_edges}
    instances = {i for _, i, _ in user_edges} | {x for a, b, _ in sub_edges for x in (a, b)}
    nodes = [
        GraphNode(f"user:{row.id}", row.username, "user")
        for row in session.scalars(select(UserRow).where(UserRow.id.in_(users)))
    ]
    nodes += [
        GraphNode(str(row.id), f"{row.agent_name}@{row.version} {str(row.id)[:8]}", "instance")
        for row in session.scalars(
            select(ServiceInstanceRow).where(ServiceInstanceRow.id.in_(instances))
        )
    ]
    session.rollback()
    return nodes, edges


__all__ = [
    "FALLBACK_POLL_S",
    "MAX_BATCH",
    "MAX_PAYLOAD_BYTES",
    "ClaimedTask",
    "GraphEdge",
    "GraphNode",
    "Outcome",
    "TaskRow",
    "TaskSpec",
    "claim_tasks",
    "count_tasks",
    "expire_tasks",
    "finish_task",
    "finish_tasks",
    "get_task",
    "interaction_graph",
    "is_final",
    "list_tasks",
    "read_fresh",
    "requeue_orphans",
    "requeue_tasks_of",
    "submit_batch",
    "submit_task",
    "task_progress",
    "task_started",
    "task_topic",
    "tasks_started",
    "wait_finished",
]
