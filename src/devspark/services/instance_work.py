"""The worker side of service instances: claims, reports, stops, and release of lost workers.

A worker's hosting runtime takes unplaced instances with :func:`claim_instances`
(``deploying``, held by that worker), says how they are every heartbeat with
:func:`report_instances`, which answers with the instances it must drain and stop
(:class:`InstanceOrders`: stopped by their owner, or replaced by a serving instance in a
rolling update), and records the end with :func:`instance_stopped`.
:func:`release_instances_of` unplaces the instances of workers that are gone.

On PostgreSQL claims lock their rows ``FOR UPDATE SKIP LOCKED``: two workers never wait
on each other for one instance and never take the same one. On SQLite (one worker) the
same statements run without row locks; the conditional ``UPDATE`` keeps them exclusive.
The statements are built once, at import.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, bindparam, case, or_, select, update
from sqlalchemy.orm import Session

from devspark.core.errors import InvalidArgumentError
from devspark.core.lifecycle import LifecycleState
from devspark.services.live import LiveHub
from devspark.store.models import (
    LIFECYCLE_STATES,
    ServiceInstanceRow,
    UtcDateTime,
    WorkerRow,
    utcnow,
)

SERVING_STATES = frozenset(
    {LifecycleState.ONLINE.value, LifecycleState.IDLE.value, LifecycleState.BUSY.value}
)
"""States in which an instance takes tasks (a replacement in one of them takes over)."""

RETRY_BASE_S = 1.0
"""Wait before placing again an instance whose placement failed once (doubled per failure)."""

RETRY_CAP_S = 300.0
"""Longest wait between two placements of an instance that keeps failing."""

_S = ServiceInstanceRow


def retry_delay(failures: int) -> timedelta:
    """How long an instance that failed ``failures`` placements in a row waits for the next."""
    exponent = min(max(0, failures - 1), 30)
    return timedelta(seconds=min(RETRY_CAP_S, RETRY_BASE_S * 2**exponent))


def instance_topic(instance_id: uuid.UUID | str) -> str:
    """The live topic of one instance's events."""
    return f"instance:{instance_id}"


def publish_instance_state(
    hub: LiveHub | None,
    instance_id: uuid.UUID,
    state: str,
    *,
    load: float = 0.0,
    in_flight: int = 0,
    error: str | None = None,
) -> None:
    """Publish ``{"type": "instance.state", "id", "state", "load", "in_flight", "error"}``.

    On ``instance:<id>`` (no hub: nothing); call it after the commit that changed it.
    """
    if hub is not None:
        hub.publish(
            instance_topic(instance_id),
            {
                "type": "instance.state",
                "id": str(instance_id),
                "state": state,
                "load": load,
                "in_flight": in_flight,
                "error": error,
            },
        )


@dataclass(frozen=True, slots=True)
class InstancePlacement:
    """An instance a worker took with :func:`claim_instances`: what to start.

    Attributes:
        id: The instance.
        agent_ref: Its agent (``builtin:NAME`` or ``agent:USER/NAME@VERSION``).
        agent_version_id: The registry version of an uploaded agent (``None``: built-in).
        handles: The task types it takes.
        concurrency: Sandboxed processes to start for it.
        replaces: The instance it replaces in a rolling update (``None``: none).

    """

    id: uuid.UUID
    agent_ref: str
    agent_version_id: uuid.UUID | None
    handles: tuple[str, ...]
    concurrency: int
    replaces: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class InstanceReport:
    """How one instance is, as its worker sees it (see :func:`report_instances`).

    Attributes:
        id: The instance.
        state: Its lifecycle state (one of :data:`LIFECYCLE_STATES`).
        load: Busy share of its processes, 0..1.
        in_flight: Tasks it is handling now.
        tasks_done: Tasks it has finished since it was placed.
        tasks_failed: Of those, the ones that did not succeed.
        restarts: Times its processes were restarted after a crash.
        error: Its latest error (``None``: none).

    """

    id: uuid.UUID
    state: str
    load: float = 0.0
    in_flight: int = 0
    tasks_done: int = 0
    tasks_failed: int = 0
    restarts: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class InstanceOrders:
    """What a worker must do after a report.

    Attributes:
        stop: Instances it holds that must drain and stop (stopped by their owner, or
            replaced by an instance that is now serving). Each is ``maintenance`` and
            ``desired = "stopped"`` already; call :func:`instance_stopped` once drained.
        released: Reported instances it no longer holds (its lease ran out and they were
            given back): stop them at once without recording anything.

    """

    stop: tuple[uuid.UUID, ...] = ()
    released: tuple[uuid.UUID, ...] = ()


class _Statements:
    """The worker side's statements, built once at import."""

    def __init__(self) -> None:
        unplaced = (
            select(_S.id)
            .where(
                _S.desired == "running",
                _S.worker_id.is_(None),
                or_(_S.retry_at.is_(None), _S.retry_at <= bindparam("now", type_=UtcDateTime())),
            )
            .order_by(_S.created_at, _S.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )
        # A CTE that locks rows is computed once on PostgreSQL; an IN (subquery) with a
        # LIMIT may be re-run by the plan and pick more rows than the limit.
        picked = unplaced.cte("picked")
        self.claim = (
            update(_S)
            .where(_S.id.in_(select(picked.c.id)), _S.worker_id.is_(None))
            .values(
                worker_id=bindparam("worker"),
                state=LifecycleState.DEPLOYING.value,
                error=None,
                load=0.0,
                in_flight=0,
                retry_at=None,
                heartbeat_at=bindparam("now", type_=UtcDateTime()),
                updated_at=bindparam("now", type_=UtcDateTime()),
            )
            .returning(
                _S.id, _S.agent_ref, _S.agent_version_id, _S.handles, _S.concurrency, _S.replaces
            )
        )
        self.report = (
            update(_S)
            .where(_S.id == bindparam("ident"), _S.worker_id == bindparam("worker"))
            .values(
                state=bindparam("state"),
                load=bindparam("load"),
                in_flight=bindparam("in_flight"),
                tasks_done=bindparam("tasks_done"),
                tasks_failed=bindparam("tasks_failed"),
                restarts=bindparam("restarts"),
                error=bindparam("error"),
                failures=case((bindparam("serving"), 0), else_=_S.failures),
                heartbeat_at=bindparam("now", type_=UtcDateTime()),
                updated_at=bindparam("now", type_=UtcDateTime()),
            )
        )
        self.worker_beat = select(WorkerRow.heartbeat_at).where(WorkerRow.id == _S.worker_id)
        newer = _S.__table__.alias("newer")
        self.superseded = select(newer.c.replaces).where(
            newer.c.replaces.is_not(None), newer.c.state.in_(sorted(SERVING_STATES))
        )
        self.held = select(_S.id, _S.desired).where(_S.worker_id == bindparam("worker"))


_SQL = _Statements()


def claim_instances(
    session: Session, worker_id: uuid.UUID, limit: int, *, hub: LiveHub | None = None
) -> list[InstancePlacement]:
    """Take up to ``limit`` unplaced instances that should run, oldest first (commits).

    Each is ``deploying`` and held by ``worker_id``; the worker starts its processes and
    reports it ``online`` (or ``error``) with :func:`report_instances`. An instance whose
    last placement failed waits until its ``retry_at`` (see :func:`instance_stopped`).
    ``instance.state`` is published for each.

    Returns:
        What to start (empty when nothing waits or ``limit`` is below 1).

    """
    if limit < 1:
        return []
    rows = session.execute(_SQL.claim, {"worker": worker_id, "limit": limit, "now": utcnow()})
    placements = [
        InstancePlacement(
            id=row.id,
            agent_ref=row.agent_ref,
            agent_version_id=row.agent_version_id,
            handles=tuple(row.handles),
            concurrency=row.concurrency,
            replaces=row.replaces,
        )
        for row in rows
    ]
    session.commit()
    for placement in placements:
        publish_instance_state(hub, placement.id, LifecycleState.DEPLOYING.value)
    return placements


def _check_report(report: InstanceReport) -> dict[str, Any]:
    if report.state not in LIFECYCLE_STATES:
        raise InvalidArgumentError(
            f"state={report.state!r} is not one of: {', '.join(LIFECYCLE_STATES)}"
        )
    return {
        "ident": report.id,
        "state": report.state,
        "serving": report.state in SERVING_STATES,
        "load": min(1.0, max(0.0, float(report.load))),
        "in_flight": max(0, report.in_flight),
        "tasks_done": max(0, report.tasks_done),
        "tasks_failed": max(0, report.tasks_failed),
        "restarts": max(0, report.restarts),
        "error": None if report.error is None else report.error[-4000:],
    }


def report_instances(
    session: Session,
    worker_id: uuid.UUID,
    reports: Sequence[InstanceReport],
    *,
    hub: LiveHub | None = None,
) -> InstanceOrders:
    """Record how the worker's instances are, say which must stop (commits).

    One ``UPDATE`` per report (send only the instances that changed since the last
    report; an instance held by another worker now is left alone), which also sets its
    ``heartbeat_at``. Instances that did not change are not written: their liveness is
    their worker's heartbeat (:func:`instance_heartbeats`), which the worker beats
    anyway. An instance whose replacement serves is marked ``desired = "stopped"`` and
    ``maintenance`` here. ``instance.state`` is published for each report recorded.

    Raises:
        InvalidArgumentError: A report with an unknown state (nothing is recorded).

    """
    now = utcnow()
    params = [{**_check_report(report), "worker": worker_id, "now": now} for report in reports]
    if params:  # Core executemany: one UPDATE per report, in one round trip where it can
        session.connection().execute(_SQL.report, params)
    _stop_superseded(session, worker_id, now)
    held = {ident: desired for ident, desired in session.execute(_SQL.held, {"worker": worker_id})}
    session.commit()
    for param in params:
        if param["ident"] in held:
            publish_instance_state(
                hub,
                param["ident"],
                param["state"],
                load=param["load"],
                in_flight=param["in_flight"],
                error=param["error"],
            )
    stop = tuple(ident for ident, desired in held.items() if desired == "stopped")
    released = tuple(report.id for report in reports if report.id not in held)
    return InstanceOrders(stop=stop, released=released)


def _stop_superseded(session: Session, worker_id: uuid.UUID, now: Any) -> None:
    # Two steps: the replacements that serve are few (an index on ``replaces``); a
    # single UPDATE ... IN (subquery) was planned as a scan per held row (80 ms at 1,000).
    replaced = list(session.scalars(_SQL.superseded))
    if not replaced:
        return
    statement: Update = (
        update(_S)
        .where(_S.worker_id == worker_id, _S.desired == "running", _S.id.in_(replaced))
        .values(desired="stopped", state=LifecycleState.MAINTENANCE.value, updated_at=now)
    )
    session.execute(statement, execution_options={"synchronize_session": False})


def instance_stopped(
    session: Session,
    instance_id: uuid.UUID,
    error: str | None = None,
    *,
    hub: LiveHub | None = None,
) -> None:
    """Record that a worker stopped an instance's processes (commits).

    The instance is no longer placed. Without ``error`` it is ``offline``; one that
    should still run (its worker exits) is then claimed again by another worker's
    :func:`claim_instances`. With ``error`` (its placement failed: an archive that
    cannot be unpacked, an agent that no longer resolves) it is ``error`` with the
    text, one more ``failures``, and ``retry_at`` set :func:`retry_delay` ahead: no
    worker claims it before then, so a placement that keeps failing is retried every
    1, 2, 4 ... 300 s instead of every heartbeat. ``instance.state`` is published.
    """
    now = utcnow()
    values: dict[str, Any] = {
        "state": LifecycleState.OFFLINE.value,
        "worker_id": None,
        "load": 0.0,
        "in_flight": 0,
        "error": None,
        "heartbeat_at": now,
        "updated_at": now,
    }
    if error is not None:
        failures = session.scalar(select(_S.failures).where(_S.id == instance_id))
        failures = (failures or 0) + 1
        values.update(
            state=LifecycleState.ERROR.value,
            error=error[-4000:],
            failures=failures,
            retry_at=now + retry_delay(failures),
        )
    done = session.execute(
        update(_S)
        .where(_S.id == instance_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if getattr(done, "rowcount", 0):
        publish_instance_state(hub, instance_id, values["state"], error=values["error"])


def instance_heartbeats(
    session: Session, rows: Iterable[ServiceInstanceRow]
) -> dict[uuid.UUID, datetime | None]:
    """The latest heartbeat of each instance, by id (one query).

    A placed instance lives as long as its worker does, so its heartbeat is its
    worker's latest one (``workers.heartbeat_at``, beaten every few seconds); an
    unplaced one has the last moment a worker said anything of it (its own
    ``heartbeat_at``: claimed, changed, stopped or released), ``None`` if never placed.
    """
    listed = list(rows)
    workers = {row.worker_id for row in listed if row.worker_id is not None}
    beats: dict[uuid.UUID, datetime] = {}
    if workers:
        found_beats = session.execute(
            select(WorkerRow.id, WorkerRow.heartbeat_at).where(WorkerRow.id.in_(workers))
        )
        beats = {ident: beat for ident, beat in found_beats}
    found: dict[uuid.UUID, datetime | None] = {}
    for row in listed:
        beat = None if row.worker_id is None else beats.get(row.worker_id)
        found[row.id] = beat if beat is not None else row.heartbeat_at
    return found


def release_instances_of(
    session: Session, worker_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, str]]:
    """Unplace the instances of workers that are gone (flushes; the caller commits).

    Those that should run go back to ``registered`` for another worker; those being
    stopped are ``offline``. Each keeps its worker's last heartbeat as its own.

    Returns:
        The instances unplaced and their new state (publish them after the commit).

    """
    if not worker_ids:
        return []
    state = case(
        (_S.desired == "running", LifecycleState.REGISTERED.value),
        else_=LifecycleState.OFFLINE.value,
    )
    done = session.execute(
        update(_S)
        .where(_S.worker_id.in_(list(worker_ids)))
        .values(
            state=state,
            heartbeat_at=_SQL.worker_beat.scalar_subquery(),
            worker_id=None,
            load=0.0,
            in_flight=0,
            updated_at=utcnow(),
        )
        .returning(_S.id, _S.state)
        .execution_options(synchronize_session=False)
    )
    return [(ident, str(state)) for ident, state in done]


__all__ = [
    "RETRY_BASE_S",
    "RETRY_CAP_S",
    "SERVING_STATES",
    "InstanceOrders",
    "InstancePlacement",
    "InstanceReport",
    "claim_instances",
    "instance_heartbeats",
    "instance_stopped",
    "instance_topic",
    "publish_instance_state",
    "release_instances_of",
    "report_instances",
    "retry_delay",
]
