"""Matches over HTTP: start one, list them, read one and its replay.

``POST /api/v1/matches`` persists a match of its own (``queued``) and hands it to the
first worker that claims it (``devspark worker``, or the one a server embeds), which
plays it sandboxed, records its replay into the artifact store and publishes each step
on the live topic ``match:<id>``. Tournament
matches are listed here too (``tournament_id`` filters them).

Reads are public. Starting a match needs the ``user`` role (create), the ``agent`` role
(execute: an agent's CI account evaluating it) or admin, and, for API keys, the
``matches:write`` scope; it is audited with the request's correlation id.
Entrants are ``builtin:NAME`` or started uploaded versions, ``agent:USER/NAME[@VERSION]``
(see :mod:`devspark.services.entrants`).
"""

from __future__ import annotations

import gzip
import logging
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from devspark.core.errors import PermissionDeniedError
from devspark.core.isolation import IsolationLevel
from devspark.core.status import MATCH_STATUSES
from devspark.server.auditing import audit_context
from devspark.server.auth import (
    AUTH_RESPONSES,
    Actor,
    current_actor,
    optional_actor,
    require_key_scope,
)
from devspark.server.deps import SessionDep
from devspark.server.errors import NOT_FOUND_RESPONSE, ErrorBody
from devspark.server.pagination import Page, PageParams, keyset_params, page_params
from devspark.services import matches
from devspark.services.accounts import Action, can
from devspark.services.matches import MatchResultRow, MatchRow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/matches", tags=["matches"])

WRITE_SCOPE = "matches:write"
"""API-key scope needed to start a match."""

_PUBLIC = [Depends(optional_actor)]
_TOURNAMENT_ID = "4b0c9e2a-1f3d-4e5a-8b6c-7d8e9f0a1b2c"
_MATCH_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
_MATCH_EXAMPLE: dict[str, Any] = {
    "id": _MATCH_ID,
    "tournament_id": _TOURNAMENT_ID,
    "scenario_id": "tictactoe-v1",
    "seed": 1234,
    "options": {},
    "isolation": "sandbox",
    "round": 0,
    "label": "round 1",
    "agents": ["builtin:minimax", "builtin:random"],
    "status": "finished",
    "error": None,
    "steps": 7,
    "wall_ms": 41.5,
    "replay_ref": None,
    "created_at": "2025-01-31T12:00:05Z",
    "started_at": "2025-01-31T12:00:05Z",
    "finished_at": "2025-01-31T12:00:06Z",
    "results": [
        {
            "seat": 0,
            "agent": "builtin:minimax",
            "role": "X",
            "status": "ok",
            "reward": 1.0,
            "moves": 4,
            "wall_ms": 12.0,
            "cpu_s": 0.01,
            "peak_mb": 30.5,
            "detail": "",
        }
    ],
}


class MatchResultPublic(BaseModel):
    """One seat's result in a match."""

    seat: int
    agent: str
    role: str
    status: str
    reward: float
    moves: int
    wall_ms: float
    cpu_s: float
    peak_mb: float
    detail: str

    @classmethod
    def from_row(cls, row: MatchResultRow) -> MatchResultPublic:
        """Build the public view of a result row."""
        return cls(
            seat=row.seat,
            agent=row.agent_ref,
            role=row.role,
            status=row.status,
            reward=row.reward,
            moves=row.moves,
            wall_ms=row.wall_ms,
            cpu_s=row.cpu_s,
            peak_mb=row.peak_mb,
            detail=row.detail,
        )


class MatchPublic(BaseModel):
    """A match: its spec, progress and per-seat results (empty until it finishes)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_MATCH_EXAMPLE]})

    id: uuid.UUID
    tournament_id: uuid.UUID | None
    scenario_id: str
    seed: int
    options: dict[str, Any] = Field(description="Scenario reset options.")
    isolation: str
    round: int | None = Field(description="Round of its tournament.")
    label: str | None = Field(description="The pairing's label in its tournament.")
    agents: list[str] = Field(description="Agents in seat order.")
    status: str = Field(
        description="`queued`, `running`, `finished`, `failed`, or `cancelled` (its "
        "tournament was cancelled before it started)."
    )
    error: str | None = Field(
        default=None,
        description="Why the match failed (it could not be played or stored); null "
        "otherwise. An agent's fault is a result, not a failure.",
    )
    steps: int
    wall_ms: float
    replay_ref: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    results: list[MatchResultPublic]

    @classmethod
    def from_row(cls, row: MatchRow, results: list[MatchResultRow]) -> MatchPublic:
        """Build the public view of a match row and its results."""
        pairing: dict[str, Any] = dict(row.options.get("pairing") or {})
        return cls(
            id=row.id,
            tournament_id=row.tournament_id,
            scenario_id=row.scenario_id,
            seed=row.seed,
            options=dict(row.options.get("reset") or {}),
            isolation=row.isolation,
            round=pairing.get("round"),
            label=pairing.get("label"),
            agents=[str(a) for a in pairing.get("agents", [r.agent_ref for r in results])],
            status=row.status,
            error=row.error,
            steps=row.steps,
            wall_ms=row.wall_ms,
            replay_ref=row.replay_ref,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            results=[MatchResultPublic.from_row(r) for r in results],
        )


class MatchCreate(BaseModel):
    """What ``POST /api/v1/matches`` needs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scenario": "connect_four",
                    "agents": ["builtin:connect-four-alphabeta", "agent:ada/c4bot@1.0.0"],
                    "seed": 7,
                    "options": {"difficulty": 2},
                    "isolation": "sandbox",
                }
            ]
        },
    )

    scenario: str = Field(min_length=1, max_length=128, description="Scenario name or id.")
    agents: list[str] = Field(
        min_length=1,
        max_length=16,
        description="Agents in seat order: `builtin:NAME` or `agent:USER/NAME[@VERSION]`.",
    )
    seed: StrictInt = Field(default=0, ge=0, le=2**31 - 1, description="The match seed.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Scenario reset options, checked against the scenario (`difficulty`...; "
        "unknown keys and out-of-range values are 422; at most 16 KiB).",
    )
    isolation: IsolationLevel = Field(
        default=IsolationLevel.SANDBOX,
        description="Isolation of every agent; `trusted` is refused for uploaded agents.",
    )


Writer = Annotated[Actor, Depends(current_actor)]
Window = Annotated[PageParams, Depends(page_params)]
KeysetWindow = Annotated[PageParams, Depends(keyset_params)]
MatchId = Annotated[uuid.UUID, PathParam(description="Match id.")]

_CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    409: {"model": ErrorBody, "description": "An uploaded agent is not started."},
    422: {
        "model": ErrorBody,
        "description": "Unknown scenario, invalid seats, options, isolation, or references "
        "that name no agent (with the near ones).",
    },
}
_REPLAY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {"schema": {"type": "object"}}},
        "description": "The replay document (format `devspark-replay`, see docs/replays.md).",
    },
    **NOT_FOUND_RESPONSE,
}


def with_results(session: SessionDep, rows: list[MatchRow]) -> list[MatchPublic]:
    """The public views of ``rows``, their results read in one query."""
    results = matches.results_of(session, rows)
    return [MatchPublic.from_row(row, results[row.id]) for row in rows]


@router.post("", status_code=201, summary="Start a match", responses=_CREATE_RESPONSES)
def start_match(
    request: Request, body: MatchCreate, session: SessionDep, actor: Writer
) -> MatchPublic:
    """Persist a match (`queued`) and queue it; it is played in the background.

    Follow it live on the WebSocket topic `match:<id>` (a `step` event per step), then
    read its result and `GET /api/v1/matches/{id}/replay`.
    """
    require_key_scope(actor, WRITE_SCOPE)
    # Users create matches; an agent account executes them (CI evaluating its agent).
    if not any(
        can(actor.role, action, owner_id=None, actor_id=actor.user.id)
        for action in (Action.CREATE, Action.EXECUTE)
    ):
        raise PermissionDeniedError(
            f"user {actor.user.username!r} (role {actor.role.value!r}) may not start matches"
        )
    row = matches.create_match(
        session,
        owner_id=actor.user.id,
        scenario=body.scenario,
        agents=body.agents,
        seed=body.seed,
        options=dict(body.options),
        isolation=body.isolation,
        audit=audit_context(request, actor),
    )
    return MatchPublic.from_row(row, [])


@router.get("", summary="List matches", dependencies=_PUBLIC, responses=NOT_FOUND_RESPONSE)
def list_matches(
    session: SessionDep,
    params: KeysetWindow,
    tournament_id: Annotated[
        uuid.UUID | None, Query(description="Only this tournament's matches.")
    ] = None,
    agent: Annotated[
        str | None, Query(max_length=255, description="Only matches this agent played in.")
    ] = None,
    status: Annotated[
        str | None,
        Query(pattern=f"^({'|'.join(MATCH_STATUSES)})$", description="Only this state."),
    ] = None,
    scenario: Annotated[
        str | None,
        Query(max_length=128, description="Only this scenario (name or versioned id)."),
    ] = None,
) -> Page[MatchPublic]:
    """Matches, newest first (by creation time, then id), with their results.

    Page by `offset`, or by `cursor` (each page's `next_cursor`) at the same cost at any
    depth; a cursor page has `total` null.
    """
    page = matches.list_matches(
        session,
        tournament_id=tournament_id,
        agent=agent,
        status=status,
        scenario=scenario,
        offset=params.offset,
        limit=params.limit,
        cursor=params.cursor,
    )
    return Page[MatchPublic](
        items=with_results(session, page.items),
        total=page.total,
        offset=params.offset,
        limit=params.limit,
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{match_id}", summary="Get a match", dependencies=_PUBLIC, responses=NOT_FOUND_RESPONSE
)
def get_match(match_id: MatchId, session: SessionDep) -> MatchPublic:
    """One match: spec, status and per-seat results."""
    return with_results(session, [matches.get_match(session, match_id)])[0]


@router.get(
    "/{match_id}/replay",
    summary="Get a match's replay",
    dependencies=_PUBLIC,
    response_class=Response,
    responses=_REPLAY_RESPONSES,
)
def get_replay(request: Request, match_id: MatchId, session: SessionDep) -> Response:
    """The replay of a finished match: every step's moves, rewards and state.

    Served gzip-encoded to clients that accept it (replays compress ~15x).
    """
    data = matches.replay_bytes(session, request.app.state.artifacts, match_id)
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(data, media_type="application/json", headers=headers)
    return Response(gzip.decompress(data), media_type="application/json", headers=headers)


__all__ = ["MATCH_STATUSES", "WRITE_SCOPE", "MatchPublic", "MatchResultPublic", "router"]
