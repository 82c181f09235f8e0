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

The worker side (claims, reports, stops) lives in
:mod:`devspark.services.instance_work` and is re-exported here.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    String,
    cast,
    select,
)
from sqlalchemy.orm import Session

from devspark.arena.agents import BUILTIN_PREFIX, builtin_names, resolve_agent
from devspark.core.errors import InvalidArgumentError, NotFoundError, did_you_mean
from devspark.core.lifecycle import LifecycleState
from devspark.core.manifest import AgentManifest, ServiceSpec
from devspark.services.audit import SYSTEM, AuditContext
from devspark.services.entrants import find_version, is_uploaded, unresolved
from devspark.services.instance_work import (
    SERVING_STATES,
    InstanceOrders,
    InstancePlacement,
    InstanceReport,
    claim_instances,
    instance_heartbeats,
    instance_stopped,
    instance_topic,
    publish_instance_state,
    release_instances_of,
    report_instances,
)
from devspark.services.live import LiveHub
from devspark.services.matches import window
from devspark.services.transaction import in_transaction
from devspark.store.models import LIFECYCLE_STATES, ServiceInstanceRow, utcnow

MAX_REPLICAS = 64
"""The most instances one ``start_instances`` call starts."""

TASK_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
"""What a task type looks like (``echo``, ``connect_four.best_move``)."""

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
    session: Session,
    instance_id: uuid.UUID,
    *,
    audit: AuditContext = SYSTEM,
    hub: LiveHub | None = None,
) -> ServiceInstanceRow:
    """Ask an instance to drain and stop (one commit).

    A placed instance becomes ``maintenance`` (draining: its worker finishes the tasks
    it holds, then records :func:`instance_stopped`); one never placed is ``offline`` at
    once. Stopping a stopped instance changes nothing (still audited). A change is
    published as ``instance.state`` on ``instance:<id>`` after the commit.

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

    row = in_transaction(session, change)
    publish_instance_state(
        hub, row.id, row.state, load=row.load, in_flight=row.in_flight, error=row.error
    )
    return row


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
    "instance_heartbeats",
    "instance_stopped",
    "instance_topic",
    "list_instances",
    "publish_instance_state",
    "release_instances_of",
    "report_instances",
    "resolve_service",
    "roll_out",
    "service_builtins",
    "start_instances",
    "stop_instance",
]
