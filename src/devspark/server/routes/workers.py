"""Workers and the queue over HTTP: who plays, and how much work waits.

``GET /api/v1/workers`` lists the worker processes (``devspark worker``, or the one a
server embeds) with their state and heartbeat; a worker whose heartbeat is older than
the lease is shown ``offline`` even before it is reaped. ``GET /api/v1/queue`` counts the
queued and running matches and those that finished in the last minute.

Reads are public, like the matches and tournaments they play (see
:mod:`devspark.services.work_status`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from devspark.server.auth import optional_actor
from devspark.server.deps import SessionDep
from devspark.server.errors import ErrorBody
from devspark.server.pagination import Page, PageParams, page_params
from devspark.services import work_status
from devspark.services.work_status import WorkerState, WorkerStatus

router = APIRouter(prefix="/api/v1", tags=["workers"])

_PUBLIC = [Depends(optional_actor)]
_WORKER_EXAMPLE: dict[str, Any] = {
    "id": "0f6f5d1e-8c7b-4a39-9e21-5b4c3d2e1f0a",
    "name": "gpu-box-1",
    "host": "gpu-box",
    "pid": 4242,
    "executor": "local",
    "slots": 4,
    "state": "busy",
    "started_at": "2025-01-31T12:00:00Z",
    "heartbeat_at": "2025-01-31T12:30:02Z",
    "matches_played": 318,
    "in_flight": 3,
}
_STATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ErrorBody,
        "description": "`state` is not one of `idle`, `busy`, `draining`, `offline`.",
    }
}


class WorkerPublic(BaseModel):
    """A worker process: who it is, what it does, what it has played."""

    model_config = ConfigDict(json_schema_extra={"examples": [_WORKER_EXAMPLE]})

    id: uuid.UUID
    name: str = Field(description="The name it registered under (`--name`, or `host-pid`).")
    host: str
    pid: int
    executor: str = Field(description="`local` or `ray`.")
    slots: int = Field(description="Matches it plays at once.")
    state: WorkerState = Field(
        description="`idle`, `busy`, `draining` (finishing before it exits) or `offline` "
        "(stopped, or no heartbeat within the lease, 15 s by default)."
    )
    started_at: datetime
    heartbeat_at: datetime = Field(description="Its latest heartbeat (every ~2 s while alive).")
    matches_played: int = Field(description="Matches it has played since it started.")
    in_flight: int = Field(description="Matches it is playing now (0 when offline).")

    @classmethod
    def from_status(cls, worker: WorkerStatus) -> WorkerPublic:
        """Build the public view of a worker."""
        return cls(
            id=worker.id,
            name=worker.name,
            host=worker.host,
            pid=worker.pid,
            executor=worker.executor,
            slots=worker.slots,
            state=worker.state,
            started_at=worker.started_at,
            heartbeat_at=worker.heartbeat_at,
            matches_played=worker.matches_played,
            in_flight=worker.in_flight,
        )


class QueuePublic(BaseModel):
    """How much work waits, is being played, and was just played."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"queued": 12, "running": 4, "finished_last_minute": 37}]}
    )

    queued: int = Field(ge=0, description="Matches waiting for a worker.")
    running: int = Field(ge=0, description="Matches a worker is playing.")
    finished_last_minute: int = Field(ge=0, description="Matches finished in the last 60 s.")


Window = Annotated[PageParams, Depends(page_params)]


@router.get("/workers", summary="List workers", dependencies=_PUBLIC, responses=_STATE_RESPONSES)
def list_workers(
    session: SessionDep,
    params: Window,
    state: Annotated[WorkerState | None, Query(description="Only workers in this state.")] = None,
) -> Page[WorkerPublic]:
    """Worker processes, live ones first (by name), then offline ones (latest first)."""
    workers, total = work_status.list_workers(
        session, limit=params.limit, offset=params.offset, state=state
    )
    return Page[WorkerPublic](
        items=[WorkerPublic.from_status(worker) for worker in workers],
        total=total,
        offset=params.offset,
        limit=params.limit,
    )


@router.get("/queue", summary="Queue depth", dependencies=_PUBLIC)
def get_queue(session: SessionDep) -> QueuePublic:
    """Matches queued and running now, and those finished in the last minute."""
    stats = work_status.queue_stats(session)
    return QueuePublic(
        queued=stats.queued, running=stats.running, finished_last_minute=stats.finished_last_minute
    )


__all__ = ["QueuePublic", "WorkerPublic", "router"]
