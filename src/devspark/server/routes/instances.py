"""Service instances over HTTP: start service agents on the workers, list, stop, roll out.

``POST /api/v1/instances`` stores ``replicas`` instances of a service agent (a manifest
with a ``[service]`` table); the workers place and start them
(:mod:`devspark.services.instances`). ``DELETE /api/v1/instances/{id}`` drains one and
stops it; ``POST /api/v1/instances/rollout`` replaces the instances of an agent running
another version, one by one. ``GET /api/v1/instances/graph`` is who asked whom.

Reads need a logged-in account (any role). Starting needs the ``user`` role (create),
the ``agent`` role (execute) or admin, and, for API keys, the ``agents:write`` scope;
stopping and rolling out are for the instances' owner or an admin. Each write is audited
with the request's correlation id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from devspark.core.errors import PermissionDeniedError
from devspark.server.auditing import audit_context
from devspark.server.auth import AUTH_RESPONSES, Actor, current_actor, require_key_scope
from devspark.server.deps import SessionDep
from devspark.server.errors import NOT_FOUND_RESPONSE, ErrorBody
from devspark.server.pagination import Page, PageParams, page_params
from devspark.services import instances, tasks
from devspark.services.accounts import Action, can
from devspark.services.instances import MAX_REPLICAS, TASK_TYPE_RE, ServiceInstanceRow

router = APIRouter(prefix="/api/v1/instances", tags=["instances"])

WRITE_SCOPE = "agents:write"
"""API-key scope needed to start, stop and roll out instances (they run agents)."""

LifecycleName = Literal[
    "registered", "deploying", "online", "busy", "idle", "offline", "error", "maintenance"
]

_INSTANCE_EXAMPLE: dict[str, Any] = {
    "id": "5a1c9e2b-3d4f-4a6b-8c7d-9e0f1a2b3c4d",
    "agent": "builtin:echo",
    "agent_name": "echo",
    "version": "1.0.0",
    "handles": ["echo", "echo.slow"],
    "concurrency": 1,
    "state": "idle",
    "desired": "running",
    "load": 0.0,
    "in_flight": 0,
    "tasks_done": 12,
    "tasks_failed": 0,
    "restarts": 0,
    "worker_id": "0f6f5d1e-8c7b-4a39-9e21-5b4c3d2e1f0a",
    "heartbeat_at": "2025-01-31T12:30:02Z",
    "error": None,
    "retry_at": None,
    "created_at": "2025-01-31T12:00:00Z",
    "replaces": None,
    "owner_id": "2b7c4e1d-6a5f-4c3b-9d8e-1f0a2b3c4d5e",
}


class InstancePublic(BaseModel):
    """A service instance: its agent, state, load and counters."""

    model_config = ConfigDict(json_schema_extra={"examples": [_INSTANCE_EXAMPLE]})

    id: uuid.UUID
    agent: str = Field(description="`builtin:NAME` or `agent:USER/NAME@VERSION`.")
    agent_name: str
    version: str
    handles: list[str] = Field(description="The task types it takes.")
    concurrency: int = Field(description="Sandboxed processes it runs.")
    state: str = Field(
        description="`registered` (waiting for a worker), `deploying`, `online`, `busy`, "
        "`idle`, `maintenance` (draining before it stops), `offline` or `error`."
    )
    desired: str = Field(description="`running`, or `stopped` once asked to stop.")
    load: float = Field(description="Busy share of its processes, 0..1.")
    in_flight: int
    tasks_done: int
    tasks_failed: int
    restarts: int
    worker_id: uuid.UUID | None = Field(description="The worker holding it (null: none).")
    heartbeat_at: datetime | None = Field(
        description="The latest heartbeat of the worker holding it (every ~2 s while it "
        "lives); once unplaced, the last time a worker spoke of it; null if never placed."
    )
    error: str | None = Field(description="Why it is in `error` (its latest failure).")
    retry_at: datetime | None = Field(
        default=None,
        description="After a failed placement, when a worker may place it again (retries "
        "back off 1 s, 2 s, 4 s ... up to 300 s); null: at once.",
    )
    created_at: datetime
    replaces: uuid.UUID | None = Field(description="The instance a rolling update replaces.")
    owner_id: uuid.UUID = Field(description="Who started it (they and admins may stop it).")

    @classmethod
    def from_row(
        cls, row: ServiceInstanceRow, heartbeat_at: datetime | None = None
    ) -> InstancePublic:
        """Build the public view of an instance row (``heartbeat_at``: its worker's beat)."""
        return cls(
            id=row.id,
            agent=row.agent_ref,
            agent_name=row.agent_name,
            version=row.version,
            handles=list(row.handles),
            concurrency=row.concurrency,
            state=row.state,
            desired=row.desired,
            load=row.load,
            in_flight=row.in_flight,
            tasks_done=row.tasks_done,
            tasks_failed=row.tasks_failed,
            restarts=row.restarts,
            worker_id=row.worker_id,
            heartbeat_at=heartbeat_at or row.heartbeat_at,
            owner_id=row.owner_id,
            error=row.error,
            retry_at=row.retry_at,
            created_at=row.created_at,
            replaces=row.replaces,
        )


class InstancesCreate(BaseModel):
    """What ``POST /api/v1/instances`` needs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"agent": "builtin:echo", "replicas": 2}]},
    )

    agent: str = Field(
        min_length=1,
        max_length=255,
        description="A service agent: `builtin:NAME` or `agent:USER/NAME[@VERSION]`.",
    )
    replicas: StrictInt = Field(
        default=1,
        description="How many instances, 1..64.",
        json_schema_extra={"minimum": 1, "maximum": MAX_REPLICAS},
    )


class InstanceList(BaseModel):
    """The instances a start or a roll-out stored."""

    instances: list[InstancePublic]


class RolloutCreate(BaseModel):
    """What ``POST /api/v1/instances/rollout`` needs."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"agent": "agent:ada/svc@2.0.0"}]}
    )

    agent: str = Field(min_length=1, max_length=255, description="The version to roll out.")


class Rollout(BaseModel):
    """A rolling update: how many instances get replaced, and their replacements."""

    replacing: int
    instances: list[InstancePublic]


class GraphNodePublic(BaseModel):
    """A user or an instance."""

    id: str
    label: str
    kind: str = Field(description="`user` or `instance`.")


class GraphEdgePublic(BaseModel):
    """Tasks one node sent another."""

    source: str
    target: str
    count: int
    kind: str = Field(description="`task` (a user's) or `subtask` (an instance's).")


class Graph(BaseModel):
    """Who asked whom: users and instances, and the tasks between them."""

    nodes: list[GraphNodePublic]
    edges: list[GraphEdgePublic]


def public(session: SessionDep, rows: Sequence[ServiceInstanceRow]) -> list[InstancePublic]:
    """The public views of ``rows``, each with its worker's latest heartbeat (one query)."""
    beats = instances.instance_heartbeats(session, rows)
    return [InstancePublic.from_row(row, beats.get(row.id)) for row in rows]


Reader = Annotated[Actor, Depends(current_actor)]
Window = Annotated[PageParams, Depends(page_params)]
InstanceId = Annotated[uuid.UUID, PathParam(description="Instance id.")]

_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    422: {
        "model": ErrorBody,
        "description": "An unknown agent (with the near names), an agent that is not a "
        "service agent, or replicas outside 1..64.",
    },
}


def require_runner(actor: Actor, what: str, scope: str = WRITE_SCOPE) -> None:
    """Refuse callers who may neither create nor execute (viewers), and keys without ``scope``."""
    require_key_scope(actor, scope)
    if not any(
        can(actor.role, action, owner_id=None, actor_id=actor.user.id)
        for action in (Action.CREATE, Action.EXECUTE)
    ):
        raise PermissionDeniedError(
            f"user {actor.user.username!r} (role {actor.role.value!r}) may not {what}"
        )


@router.post("", status_code=201, summary="Start service instances", responses=_WRITE_RESPONSES)
def start_instances(
    request: Request, body: InstancesCreate, session: SessionDep, actor: Reader
) -> InstanceList:
    """Store `replicas` instances `registered`; workers place and start them.

    Follow one on `GET /api/v1/instances/{id}` (`deploying`, then `online`/`idle`).
    """
    require_runner(actor, "start service instances")
    rows = instances.start_instances(
        session,
        owner_id=actor.user.id,
        agent_ref=body.agent,
        replicas=body.replicas,
        audit=audit_context(request, actor),
    )
    return InstanceList(instances=public(session, rows))


@router.get("", summary="List service instances", responses=AUTH_RESPONSES)
def list_instances(
    session: SessionDep,
    params: Window,
    actor: Reader,
    capability: Annotated[
        str | None,
        Query(
            max_length=128,
            pattern=TASK_TYPE_RE.pattern,
            description="Only instances that handle this task type.",
        ),
    ] = None,
    state: Annotated[LifecycleName | None, Query(description="Only this state.")] = None,
) -> Page[InstancePublic]:
    """Instances, newest first, with their state, load and last heartbeat."""
    rows, total = instances.list_instances(
        session, capability=capability, state=state, offset=params.offset, limit=params.limit
    )
    return Page[InstancePublic](
        items=public(session, rows),
        total=total,
        offset=params.offset,
        limit=params.limit,
    )


@router.get("/graph", summary="Who asked whom", responses=AUTH_RESPONSES)
def get_graph(
    session: SessionDep,
    actor: Reader,
    since_s: Annotated[
        int, Query(ge=1, le=7 * 24 * 3600, description="Look back this many seconds.")
    ] = 3600,
) -> Graph:
    """Users and instances, with the tasks each sent another (sub-tasks between instances)."""
    nodes, edges = tasks.interaction_graph(session, since_s=since_s)
    return Graph(
        nodes=[GraphNodePublic(id=n.id, label=n.label, kind=n.kind) for n in nodes],
        edges=[
            GraphEdgePublic(source=e.source, target=e.target, count=e.count, kind=e.kind)
            for e in edges
        ],
    )


@router.post(
    "/rollout", status_code=202, summary="Roll out a new version", responses=_WRITE_RESPONSES
)
def roll_out(request: Request, body: RolloutCreate, session: SessionDep, actor: Reader) -> Rollout:
    """Start one replacement per running instance of the agent at another version.

    Each old instance drains and stops once its replacement is online, one by one, so
    no task is lost. An admin replaces every owner's instances; others their own.
    """
    require_runner(actor, "roll out service instances")
    rows = instances.roll_out(
        session,
        owner_id=actor.user.id,
        agent_ref=body.agent,
        only_owner=not actor.is_admin,
        audit=audit_context(request, actor),
    )
    return Rollout(replacing=len(rows), instances=public(session, rows))


@router.get(
    "/{instance_id:uuid}",
    summary="Get a service instance",
    responses={**AUTH_RESPONSES, **NOT_FOUND_RESPONSE},
)
def get_instance(instance_id: InstanceId, session: SessionDep, actor: Reader) -> InstancePublic:
    """One instance: agent, state, load, counters, worker and heartbeat."""
    (found,) = public(session, [instances.get_instance(session, instance_id)])
    return found


@router.delete(
    "/{instance_id:uuid}",
    status_code=202,
    summary="Stop a service instance",
    responses={**AUTH_RESPONSES, **NOT_FOUND_RESPONSE},
)
def stop_instance(
    request: Request, instance_id: InstanceId, session: SessionDep, actor: Reader
) -> InstancePublic:
    """Drain the instance and stop it (`maintenance`, then `offline`); its owner or an admin."""
    require_key_scope(actor, WRITE_SCOPE)
    row = instances.get_instance(session, instance_id)
    if not (actor.is_admin or (row.owner_id == actor.user.id and actor.role.value != "viewer")):
        raise PermissionDeniedError(
            f"user {actor.user.username!r} may not stop instance {instance_id}: "
            "only its owner or an admin may"
        )
    stopped = instances.stop_instance(
        session, instance_id, audit=audit_context(request, actor), hub=request.app.state.live
    )
    (found,) = public(session, [stopped])
    return found


__all__ = ["WRITE_SCOPE", "InstancePublic", "router"]
