"""Service instances: service agents kept running on workers, as rows.

A service agent is an agent whose manifest has a ``[service]`` table (the task types it
``handles``, its ``concurrency``). :func:`start_instances` stores ``replicas`` rows
``registered`` with ``desired = "running"``; a worker's hosting runtime takes unplaced
rows with :func:`claim_instances` (``deploying``, held by that worker), starts their
sandboxed processes, and says how they are every heartbeat with
:func:`report_instances`, which answers with the instances it must drain and stop
(:class:`InstanceOrders`). :func:`stop_instance` asks for that (``maintenance`` while
draining); :func:`instance_stopped` records the end (``offline``, or ``error``).

A rolling update (:func:`roll_out`) starts one replacement per running instance of the
same agent at another version, each with ``replaces`` naming the old one; the old one
is told to stop only once its replacement is ``online`` (or ``idle``/``busy``), so the
agent never has fewer instances than before and no task is lost.

On PostgreSQL claims lock their rows ``FOR UPDATE SKIP LOCKED``: two workers never wait
on each other for one instance and never take the same one. On SQLite (one worker) the
same statements run without row locks; the conditional ``UPDATE`` keeps them exclusive.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Update,
    bindparam,
    case,
    cast,
    select,
    update,
)
from sqlalchemy.orm import Session

from devspark.arena.agents import BUILTIN_PREFIX, builtin_names, resolve_agent
from devspark.core.errors import InvalidArgumentError, NotFoundError, did_you_mean
from devspark.core.lifecycle import LifecycleState
from devspark.core.manifest import AgentManifest, ServiceSpec
from devspark.services.audit import SYSTEM, AuditContext
from devspark.services.entrants import find_version, is_uploaded, unresolved
from devspark.services.matches import window
from devspark.services.transaction import in_transaction
from devspark.store.models import LIFECYCLE_STATES, ServiceInstanceRow, UtcDateTime, utcnow

MAX_REPLICAS = 64
"""The most instances one ``start_instances`` call starts."""

TASK_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
"""What a task type looks like (``echo``, ``connect_four.best_move``)."""

SERVING_STATES = frozenset(
    {LifecycleState.ONLINE.value, LifecycleState.IDLE.value, LifecycleState.BUSY.value}
)
"""States in which an instance takes tasks (a replacement in one of them takes over)."""

_S = ServiceInstanceRow


@dataclass(frozen=True, slots=True)
class ServiceAgent:
    """A resolved service agent: what an instance of it runs.

    Attributes:
        ref: The reference as given.
        version_id: The registry version (``None`` for a built-in).
        name: The agent's name (its manifest's).
        version: Its version.
        handles: The task types it handles.
        concurrency: Sandboxed processes per instance.
        task_ms: Its default per-task deadline.

    """

    ref: str
    version_id: uuid.UUID | None
    name: str
    version: str
    handles: tuple[str, ...]
    concurrency: int
    task_ms: int


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


# --------------------------------------------------------------------------- resolution


@functools.cache
def service_builtins() -> tuple[str, ...]:
    """The ``builtin:NAME`` references of the built-in agents that are service agents."""
    found = []
    for name in builtin_names():
        ref = BUILTIN_PREFIX + name
        if _service_of(resolve_agent(ref).manifest) is not None:
            found.append(ref)
    return tuple(found)


def _service_of(manifest: AgentManifest) -> ServiceSpec | None:
    return manifest.service


def resolve_service(session: Session, agent_ref: str, *, field: str = "agent") -> ServiceAgent:
    """The service agent ``agent_ref`` names.

    Args:
        session: Database session (read only).
        agent_ref: ``builtin:NAME`` or ``agent:USER/NAME[@VERSION]`` (the newest started
            version when unpinned).
        field: The request field it came from, for messages.

    Raises:
        InvalidArgumentError: It names no agent (with the near names), or an agent
            without a ``[service]`` table (naming the service agents there are).

    """
    where = f"{field}={agent_ref!r}"
    if agent_ref.startswith(BUILTIN_PREFIX):
        name = agent_ref.removeprefix(BUILTIN_PREFIX)
        if name not in builtin_names():
            choices = service_builtins() or tuple(BUILTIN_PREFIX + n for n in builtin_names())
            raise InvalidArgumentError(
                f"{where}: no such built-in agent{did_you_mean(agent_ref, choices)}"
            )
        manifest = resolve_agent(agent_ref).manifest
        version_id = None
    elif is_uploaded(agent_ref):
        try:
            row = find_version(session, agent_ref)
        except NotFoundError:
            raise InvalidArgumentError(f"{where}: {unresolved(session, agent_ref)}") from None
        manifest = AgentManifest.model_validate(row.manifest)
        version_id = row.id
    else:
        raise InvalidArgumentError(
            f"{where}: expected builtin:NAME or agent:USER/NAME[@VERSION]"
            + did_you_mean(BUILTIN_PREFIX + agent_ref, service_builtins())
        )
    service = _service_of(manifest)
    if service is None:
        known = ", ".join(service_builtins()) or "none"
        raise InvalidArgumentError(
            f"{where} is not a service agent: its agent.toml has no [service] table "
            f"(built-in service agents: {known})"
        )
    if version_id is not None:
        agent_ref = f"{agent_ref.partition('@')[0]}@{manifest.version}"
    return ServiceAgent(
        ref=agent_ref,
        version_id=version_id,
        name=manifest.name,
        version=manifest.version,
        handles=tuple(service.handles),
        concurrency=int(service.concurrency),
        task_ms=int(service.task_ms),
    )


# --------------------------------------------------------------------------- use cases


def _new_instance(owner_id: uuid.UUID, agent: ServiceAgent, replaces: uuid.UUID | None) -> _S:
    now = utcnow()
    return ServiceInstanceRow(
        owner_id=owner_id,
        agent_ref=agent.ref,
        agent_version_id=agent.version_id,
        agent_name=agent.name,
        version=agent.version,
        handles=list(agent.handles),
        concurrency=agent.concurrency,
        state=LifecycleState.REGISTERED.value,
        desired="running",
        load=0.0,
        in_flight=0,
        tasks_done=0,
        tasks_failed=0,
        restarts=0,
        created_at=now,
        updated_at=now,
        replaces=replaces,
    )


def start_instances(
    session: Session,
    *,
    owner_id: uuid.UUID,
    agent_ref: str,
    replicas: int = 1,
    audit: AuditContext = SYSTEM,
) -> list[ServiceInstanceRow]:
    """Store ``replicas`` instances of a service agent, ``registered`` (one commit).

    Workers place them (:func:`claim_instances`).

    Args:
        session: Database session.
        owner_id: Who starts them.
        agent_ref: ``builtin:NAME`` or ``agent:USER/NAME[@VERSION]``.
        replicas: How many, 1..:data:`MAX_REPLICAS`.
        audit: Who acts (its ``instance.start`` entry commits with the rows).

    Raises:
        InvalidArgumentError: ``replicas`` out of range, an unknown agent (with the
            near names), or an agent that is not a service agent.

    """
    if not 1 <= replicas <= MAX_REPLICAS:
        raise InvalidArgumentError(f"replicas={replicas!r} must be between 1 and {MAX_REPLICAS}")

    def change() -> list[ServiceInstanceRow]:
        agent = resolve_service(session, agent_ref)
        rows = [_new_instance(owner_id, agent, None) for _ in range(replicas)]
        session.add_all(rows)
        session.flush()
        audit.record(
            session,
            "instance.start",
            "agent",
            agent.ref[:128],
            replicas=replicas,
            instances=[str(row.id) for row in rows],
        )
        return rows

    return in_transaction(session, change)


def get_instance(
    session: Session, instance_id: uuid.UUID, *, lock: bool = False
) -> ServiceInstanceRow:
    """The instance ``instance_id``, read afresh (locked ``FOR UPDATE`` with ``lock``).

    Raises:
        NotFoundError: No such instance.

    """
    row = session.get(
        ServiceInstanceRow, instance_id, populate_existing=True, with_for_update=lock or None
    )
    if row is None:
        raise NotFoundError(f"instance_id {str(instance_id)!r}: no such service instance")
    return row


def handles_clause(task_type: str) -> ColumnElement[bool]:
    """A condition true for instances whose ``handles`` list holds ``task_type``.

    Portable across SQLite and PostgreSQL: the JSON text holds ``"TYPE"`` exactly when
    the list does (task types have no character JSON escapes; ``_`` is escaped for LIKE).
    """
    escaped = task_type.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    return cast(ServiceInstanceRow.handles, String).like(f'%"{escaped}"%', escape="\\")


def check_task_type(task_type: str, field: str = "type") -> str:
    """Return ``task_type`` when it is a valid task type.

    Raises:
        InvalidArgumentError: It does not match :data:`TASK_TYPE_RE` or is over 128 characters.

    """
    if len(task_type) > 128 or not TASK_TYPE_RE.match(task_type):
        raise InvalidArgumentError(
            f"{field}={task_type!r} is not a task type such as `echo` or "
            "`connect_four.best_move` (lower-case words joined by dots)"
        )
    return task_type


def list_instances(
    session: Session,
    *,
    capability: str | None = None,
    state: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ServiceInstanceRow], int]:
    """One window of the instances, newest first, and how many match in all.

    Args:
        session: Database session.
        capability: Only instances that handle this task type.
        state: Only instances in this lifecycle state.
        offset: Index of the first row returned.
        limit: The most rows returned.

    Raises:
        InvalidArgumentError: ``capability`` is not a task type, or ``state`` not a
            lifecycle state.

    """
    query = select(ServiceInstanceRow)
    if capability is not None:
        query = query.where(handles_clause(check_task_type(capability, "capability")))
    if state is not None:
        if state not in LIFECYCLE_STATES:
            raise InvalidArgumentError(
                f"state={state!r} is not one of: {', '.join(LIFECYCLE_STATES)}"
                + did_you_mean(state, LIFECYCLE_STATES)
            )
        query = query.where(ServiceInstanceRow.state == state)
    ordered = query.order_by(ServiceInstanceRow.created_at.desc(), ServiceInstanceRow.id)
    return window(session, ordered, offset, limit)


def stop_instance(
    session: Session, instance_id: uuid.UUID, *, audit: AuditContext = SYSTEM
) -> ServiceInstanceRow:
    """Ask an instance to drain and stop (one commit).

    A placed instance becomes ``maintenance`` (draining: its worker finishes the tasks
    it holds, then records :func:`instance_stopped`); one never placed is ``offline`` at
    once. Stopping a stopped instance changes nothing (still audited).

    Raises:
        NotFoundError: No such instance.

    """

    def change() -> ServiceInstanceRow:
        row = get_instance(session, instance_id, lock=True)
        previous = row.state
        if row.desired != "stopped":
            row.desired = "stopped"
            placed = row.worker_id is not None
            row.state = (LifecycleState.MAINTENANCE if placed else LifecycleState.OFFLINE).value
            row.updated_at = utcnow()
        session.flush()
        audit.record(session, "instance.stop", "instance", row.id, previous=previous)
        return row

    return in_transaction(session, change)


def _family(ref: str) -> str:
    return ref.partition("@")[0]


def roll_out(
    session: Session,
    *,
    owner_id: uuid.UUID,
    agent_ref: str,
    only_owner: bool = True,
    audit: AuditContext = SYSTEM,
) -> list[ServiceInstanceRow]:
    """Start one replacement per running instance of the agent at another version (one commit).

    Each replacement names the instance it replaces (``replaces``); the old instance is
    told to stop once its replacement serves (:func:`report_instances`). An instance
    that already has a replacement gets no second one.

    Args:
        session: Database session.
        owner_id: Who rolls out (owner of the replacements).
        agent_ref: The new version: ``agent:USER/NAME@VERSION`` (or ``builtin:NAME``).
        only_owner: Replace only ``owner_id``'s instances (an admin replaces all).
        audit: Who acts (``instance.rollout``).

    Returns:
        The replacements (empty when every instance already runs that version).

    Raises:
        InvalidArgumentError: An unknown agent or one that is not a service agent.

    """

    def change() -> list[ServiceInstanceRow]:
        agent = resolve_service(session, agent_ref)
        query = select(ServiceInstanceRow).where(
            ServiceInstanceRow.agent_name == agent.name,
            ServiceInstanceRow.desired == "running",
            ServiceInstanceRow.version != agent.version,
        )
        if only_owner:
            query = query.where(ServiceInstanceRow.owner_id == owner_id)
        replaced = set(
            session.scalars(
                select(ServiceInstanceRow.replaces).where(
                    ServiceInstanceRow.replaces.is_not(None),
                    ServiceInstanceRow.desired == "running",
                )
            )
        )
        old = [
            row
            for row in session.scalars(query.order_by(ServiceInstanceRow.created_at))
            if _family(row.agent_ref) == _family(agent.ref) and row.id not in replaced
        ]
        rows = [_new_instance(owner_id, agent, row.id) for row in old]
        session.add_all(rows)
        session.flush()
        audit.record(
            session,
            "instance.rollout",
            "agent",
            agent.ref[:128],
            replacing=[str(row.id) for row in old],
        )
        return rows

    return in_transaction(session, change)


# --------------------------------------------------------------------------- worker side


class _Statements:
    """The worker side's statements, built once at import."""

    def __init__(self) -> None:
        unplaced = (
            select(_S.id)
            .where(_S.desired == "running", _S.worker_id.is_(None))
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
                updated_at=bindparam("now", type_=UtcDateTime()),
            )
        )
        self.beat = (
            update(_S)
            .where(_S.worker_id == bindparam("worker"))
            .values(heartbeat_at=bindparam("now", type_=UtcDateTime()))
        )
        newer = _S.__table__.alias("newer")
        self.superseded = select(newer.c.replaces).where(
            newer.c.replaces.is_not(None), newer.c.state.in_(sorted(SERVING_STATES))
        )
        self.held = select(_S.id, _S.desired).where(_S.worker_id == bindparam("worker"))


_SQL = _Statements()


def claim_instances(session: Session, worker_id: uuid.UUID, limit: int) -> list[InstancePlacement]:
    """Take up to ``limit`` unplaced instances that should run, oldest first (commits).

    Each is ``deploying`` and held by ``worker_id``; the worker starts its processes and
    reports it ``online`` (or ``error``) with :func:`report_instances`.

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
    return placements


def _check_report(report: InstanceReport) -> dict[str, Any]:
    if report.state not in LIFECYCLE_STATES:
        raise InvalidArgumentError(
            f"state={report.state!r} is not one of: {', '.join(LIFECYCLE_STATES)}"
        )
    return {
        "ident": report.id,
        "state": report.state,
        "load": min(1.0, max(0.0, float(report.load))),
        "in_flight": max(0, report.in_flight),
        "tasks_done": max(0, report.tasks_done),
        "tasks_failed": max(0, report.tasks_failed),
        "restarts": max(0, report.restarts),
        "error": None if report.error is None else report.error[-4000:],
    }


def report_instances(
    session: Session, worker_id: uuid.UUID, reports: Sequence[InstanceReport]
) -> InstanceOrders:
    """Record how the worker's instances are, beat their heartbeat, say which must stop (commits).

    One ``UPDATE`` per report (send the instances that changed since the last report;
    an instance held by another worker now is left alone), then one that sets
    ``heartbeat_at`` on every instance ``worker_id`` holds. An instance whose
    replacement serves is marked ``desired = "stopped"`` and ``maintenance`` here.

    Raises:
        InvalidArgumentError: A report with an unknown state (nothing is recorded).

    """
    now = utcnow()
    params = [{**_check_report(report), "worker": worker_id, "now": now} for report in reports]
    if params:  # Core executemany: one UPDATE per report, in one round trip where it can
        session.connection().execute(_SQL.report, params)
    session.execute(
        _SQL.beat,
        {"worker": worker_id, "now": now},
        execution_options={"synchronize_session": False},
    )
    _stop_superseded(session, worker_id, now)
    held = {ident: desired for ident, desired in session.execute(_SQL.held, {"worker": worker_id})}
    session.commit()
    stop = tuple(ident for ident, desired in held.items() if desired == "stopped")
    released = tuple(report.id for report in reports if report.id not in held)
    return InstanceOrders(stop=stop, released=released)


def _stop_superseded(session: Session, worker_id: uuid.UUID, now: Any) -> None:
    statement: Update = (
        update(_S)
        .where(
            _S.worker_id == worker_id,
            _S.desired == "running",
            _S.id.in_(_SQL.superseded),
        )
        .values(desired="stopped", state=LifecycleState.MAINTENANCE.value, updated_at=now)
    )
    session.execute(statement, execution_options={"synchronize_session": False})


def instance_stopped(session: Session, instance_id: uuid.UUID, error: str | None = None) -> None:
    """Record that a worker stopped an instance's processes (commits).

    The instance is ``offline`` (``error`` with the text when given) and no longer
    placed. One that should still run (its worker exits, or gave up on it) is then
    unplaced: another worker's :func:`claim_instances` takes it again.
    """
    state = LifecycleState.OFFLINE if error is None else LifecycleState.ERROR
    session.execute(
        update(_S)
        .where(_S.id == instance_id)
        .values(
            state=state.value,
            worker_id=None,
            load=0.0,
            in_flight=0,
            error=None if error is None else error[-4000:],
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()


def release_instances_of(session: Session, worker_ids: Sequence[uuid.UUID]) -> int:
    """Unplace the instances of workers that are gone (flushes; the caller commits).

    Those that should run go back to ``registered`` for another worker; those being
    stopped are ``offline``.

    Returns:
        How many instances were unplaced.

    """
    if not worker_ids:
        return 0
    state = case(
        (_S.desired == "running", LifecycleState.REGISTERED.value),
        else_=LifecycleState.OFFLINE.value,
    )
    done = session.execute(
        update(_S)
        .where(_S.worker_id.in_(list(worker_ids)))
        .values(state=state, worker_id=None, load=0.0, in_flight=0, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)


def live_instance(session: Session, instance_id: uuid.UUID) -> ServiceInstanceRow | None:
    """The instance when it should run (``desired = "running"``), else ``None``."""
    row = session.get(ServiceInstanceRow, instance_id)
    return row if row is not None and row.desired == "running" else None


__all__ = [
    "MAX_REPLICAS",
    "SERVING_STATES",
    "TASK_TYPE_RE",
    "InstanceOrders",
    "InstancePlacement",
    "InstanceReport",
    "ServiceAgent",
    "ServiceInstanceRow",
    "check_task_type",
    "claim_instances",
    "get_instance",
    "handles_clause",
    "instance_stopped",
    "list_instances",
    "live_instance",
    "release_instances_of",
    "report_instances",
    "resolve_service",
    "roll_out",
    "service_builtins",
    "start_instances",
    "stop_instance",
]
