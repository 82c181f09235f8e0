"""Tasks over HTTP: submit work to service agents, wait for it, read it.

``POST /api/v1/tasks`` queues a task for any running instance that handles its type (or
the one named by ``to``) and answers 202 ``{"id", "status"}`` at once (the asynchronous
mode: follow the WebSocket topic ``task:<id>`` for ``task.progress`` and
``task.finished``, or read ``GET /api/v1/tasks/{id}``). With ``?wait=SECONDS`` (at most
60) it answers 200 with the finished task when it finishes in time (the synchronous
mode), else 202 as without.

The wait listens on the live hub's ``task:<id>`` topic: the worker that finishes the
task publishes ``task.finished`` there (in this process, or through the bus bridge from
another one). Without a bridge, a worker in another process publishes nowhere this
server hears, so the wait also re-reads the row every second
(:func:`devspark.services.tasks.wait_finished`). A waiting request gives its database
slot back while it waits (:func:`devspark.server.deps.slot_given_back`), so long waits
never hold up other requests.

Reads need a logged-in account (any role). Submitting needs the ``user`` role, the
``agent`` role or admin and, for API keys, the ``matches:write`` scope, like starting a
match; it is audited with the request's correlation id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.concurrency import run_in_threadpool

from devspark.server.auditing import audit_context
from devspark.server.auth import AUTH_RESPONSES, Actor, current_actor
from devspark.server.deps import SessionDep, slot_given_back
from devspark.server.errors import NOT_FOUND_RESPONSE, ErrorBody
from devspark.server.pagination import Page, PageParams, page_params
from devspark.server.routes.instances import require_runner
from devspark.services import tasks
from devspark.services.instances import TASK_TYPE_RE
from devspark.services.live import LiveHub
from devspark.services.tasks import TaskRow, TaskSpec

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

WRITE_SCOPE = "matches:write"
"""API-key scope needed to submit tasks (the one that starts matches)."""

MAX_WAIT_S = 60.0
"""The longest ``?wait`` a request may ask for."""

TaskStatusName = Literal[
    "queued", "assigned", "running", "succeeded", "failed", "timed_out", "dead_lettered"
]

_TASK_EXAMPLE: dict[str, Any] = {
    "id": "7e3f1c2a-9b8d-4e6f-a5c4-3b2a1f0e9d8c",
    "type": "echo",
    "payload": {"text": "hello"},
    "to": None,
    "priority": 5,
    "status": "succeeded",
    "attempts": 1,
    "max_attempts": 3,
    "timeout_s": 30,
    "instance_id": "5a1c9e2b-3d4f-4a6b-8c7d-9e0f1a2b3c4d",
    "parent_id": None,
    "result": {"text": "hello"},
    "error": None,
    "progress": None,
    "created_at": "2025-01-31T12:00:00Z",
    "assigned_at": "2025-01-31T12:00:00Z",
    "started_at": "2025-01-31T12:00:00Z",
    "finished_at": "2025-01-31T12:00:00Z",
}


class TaskPublic(BaseModel):
    """A task: what was asked, where it stands, and its result."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TASK_EXAMPLE]})

    id: uuid.UUID
    type: str
    payload: Any
    to: uuid.UUID | None = Field(description="The instance it was sent to (null: any).")
    priority: int
    status: str = Field(
        description="`queued`, `assigned`, `running`, then `succeeded`, `failed` (the agent "
        "reported an error), `timed_out` or `dead_lettered` (faults on every attempt)."
    )
    attempts: int
    max_attempts: int
    timeout_s: int
    instance_id: uuid.UUID | None = Field(description="The instance that ran it.")
    parent_id: uuid.UUID | None = Field(description="The task that submitted it.")
    result: Any
    error: str | None
    progress: Any = Field(description="The latest progress the agent reported.")
    created_at: datetime
    assigned_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: TaskRow) -> TaskPublic:
        """Build the public view of a task row."""
        return cls(
            id=row.id,
            type=row.type,
            payload=row.payload,
            to=row.to_instance,
            priority=row.priority,
            status=row.status,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            timeout_s=row.timeout_s,
            instance_id=row.instance_id,
            parent_id=row.parent_id,
            result=row.result,
            error=row.error,
            progress=row.progress,
            created_at=row.created_at,
            assigned_at=row.assigned_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


class TaskAccepted(BaseModel):
    """A task taken: its id and status."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": _TASK_EXAMPLE["id"], "status": "queued"}]}
    )

    id: uuid.UUID
    status: str


def _range(low: int, high: int) -> dict[str, Any]:
    # Documented, and checked by the service with the other rules (so a batch's errors
    # name ``tasks[i].field``), not by the body's validation.
    return {"minimum": low, "maximum": high}


class TaskCreate(BaseModel):
    """What ``POST /api/v1/tasks`` needs (ranges are checked with the other rules)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"type": "echo", "payload": {"text": "hello"}}]},
    )

    type: str = Field(
        max_length=128,
        description="A task type some instance handles.",
        json_schema_extra={"pattern": TASK_TYPE_RE.pattern},
    )
    payload: Any = Field(default=None, description="Any JSON, at most 256 KiB.")
    to: uuid.UUID | None = Field(default=None, description="One instance that must take it.")
    priority: StrictInt = Field(
        default=5, description="1..10, higher first.", json_schema_extra=_range(1, 10)
    )
    timeout_s: StrictInt = Field(
        default=30, description="Seconds to finish, 1..3600.", json_schema_extra=_range(1, 3600)
    )
    max_attempts: StrictInt = Field(
        default=3, description="Deliveries, 1..10.", json_schema_extra=_range(1, 10)
    )

    def spec(self) -> TaskSpec:
        """The service's view of this request."""
        return TaskSpec(
            type=self.type,
            payload=self.payload,
            to=self.to,
            priority=self.priority,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
        )


class BatchCreate(BaseModel):
    """What ``POST /api/v1/tasks/batch`` needs: 1..100 tasks, taken all or none."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskCreate] = Field(
        description="The tasks, 1 to 100.", json_schema_extra={"minItems": 1, "maxItems": 100}
    )


class BatchAccepted(BaseModel):
    """The tasks of a batch, in order."""

    tasks: list[TaskAccepted]


Reader = Annotated[Actor, Depends(current_actor)]
Window = Annotated[PageParams, Depends(page_params)]
TaskId = Annotated[uuid.UUID, PathParam(description="Task id.")]

_SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    200: {"model": TaskPublic, "description": "With `?wait`: the task finished in time."},
    422: {
        "model": ErrorBody,
        "description": "A type no running instance handles (with the near types), a `to` "
        "that is not a running instance of the type, a payload over 256 KiB, or a field "
        "out of range (named `tasks[i].field` in a batch).",
    },
}


def _wake_embedded_worker(request: Request) -> None:
    """Have the server's embedded worker (if any) look for tasks now, not at its next poll."""
    notify = getattr(getattr(request.app.state, "worker", None), "notify", None)
    if callable(notify):
        notify()


@router.post(
    "",
    status_code=202,
    summary="Submit a task",
    responses=_SUBMIT_RESPONSES,
    response_model=TaskPublic | TaskAccepted,
)
async def submit_task(
    request: Request,
    response: Response,
    body: TaskCreate,
    session: SessionDep,
    actor: Reader,
    wait: Annotated[
        float | None,
        Query(gt=0, le=MAX_WAIT_S, description="Wait up to this many seconds for the result."),
    ] = None,
) -> TaskPublic | TaskAccepted:
    """Queue a task; 202 `{id, status}`, or with `?wait` 200 and the finished task.

    Follow it on the WebSocket topic `task:<id>` (`task.assigned`, `task.running`,
    `task.progress` with `{"data"}`, `task.finished` with `{"status", "result", "error"}`).
    """
    require_runner(actor, "submit tasks", WRITE_SCOPE)
    hub: LiveHub = request.app.state.live
    audit = audit_context(request, actor)
    row = await run_in_threadpool(
        tasks.submit_task, session, body.spec(), owner_id=actor.user.id, audit=audit, hub=hub
    )
    _wake_embedded_worker(request)
    if wait is not None:
        async with slot_given_back(request, session) as loan:
            finished = await tasks.wait_finished(
                hub, lambda: loan.run(tasks.read_fresh, session, row.id), row.id, wait
            )
        if finished is not None:
            response.status_code = 200
            return TaskPublic.from_row(finished)
    return TaskAccepted(id=row.id, status=row.status)


@router.post("/batch", status_code=202, summary="Submit tasks", responses=_SUBMIT_RESPONSES)
def submit_batch(
    request: Request, body: BatchCreate, session: SessionDep, actor: Reader
) -> BatchAccepted:
    """Queue 1..100 tasks, all or none; errors name `tasks[i].field`."""
    require_runner(actor, "submit tasks", WRITE_SCOPE)
    rows = tasks.submit_batch(
        session,
        [task.spec() for task in body.tasks],
        owner_id=actor.user.id,
        audit=audit_context(request, actor),
        hub=request.app.state.live,
    )
    _wake_embedded_worker(request)
    return BatchAccepted(tasks=[TaskAccepted(id=row.id, status=row.status) for row in rows])


@router.get("", summary="List tasks", responses=AUTH_RESPONSES)
def list_tasks(
    session: SessionDep,
    params: Window,
    actor: Reader,
    status: Annotated[TaskStatusName | None, Query(description="Only this status.")] = None,
    type: Annotated[
        str | None,
        Query(max_length=128, pattern=TASK_TYPE_RE.pattern, description="Only this type."),
    ] = None,
) -> Page[TaskPublic]:
    """Tasks, newest first."""
    rows, total = tasks.list_tasks(
        session, status=status, type=type, offset=params.offset, limit=params.limit
    )
    return Page[TaskPublic](
        items=[TaskPublic.from_row(row) for row in rows],
        total=total,
        offset=params.offset,
        limit=params.limit,
    )


class TaskCounts(BaseModel):
    """How many tasks are in each status (every status named, zero included)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "queued": 3,
                    "assigned": 1,
                    "running": 2,
                    "succeeded": 120,
                    "failed": 4,
                    "timed_out": 0,
                    "dead_lettered": 1,
                }
            ]
        }
    )

    queued: int
    assigned: int
    running: int
    succeeded: int
    failed: int
    timed_out: int
    dead_lettered: int


@router.get("/counts", summary="Count tasks by status", responses=AUTH_RESPONSES)
def count_tasks(
    session: SessionDep,
    actor: Reader,
    type: Annotated[
        str | None,
        Query(max_length=128, pattern=TASK_TYPE_RE.pattern, description="Only this type."),
    ] = None,
) -> TaskCounts:
    """How many tasks are in each status (every status named), in one query."""
    return TaskCounts(**tasks.count_tasks(session, type=type))


@router.get(
    "/{task_id:uuid}", summary="Get a task", responses={**AUTH_RESPONSES, **NOT_FOUND_RESPONSE}
)
def get_task(task_id: TaskId, session: SessionDep, actor: Reader) -> TaskPublic:
    """One task: its status, progress, result or error."""
    return TaskPublic.from_row(tasks.get_task(session, task_id))


__all__ = ["MAX_WAIT_S", "WRITE_SCOPE", "TaskCounts", "TaskPublic", "router"]
