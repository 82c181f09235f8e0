"""Tournaments over HTTP.

``/api/v1/tournaments``: create (``user`` and up), start and cancel (owner or admin),
list, status with match counts, standings and matches (the match views of
:mod:`devspark.server.routes.matches`).

Each route parses the request, calls one use case of :mod:`devspark.services.tournaments`
and renders its answer; the use case commits its change together with its audit entry.
Tournaments are played by workers (``devspark worker`` processes, or the one a server
embeds): ``start`` marks the tournament ``running`` and commits; a worker then queues
its rounds and plays them, so nothing is lost if any process dies in between.

Entrants are ``builtin:NAME`` or started uploaded versions, ``agent:USER/NAME[@VERSION]``
(pinned to a version when the tournament is created; see
:mod:`devspark.services.entrants`). Workers unpack uploaded versions from the
artifact store and play them sandboxed.

Reads are public; writes need credentials, and API keys need the ``tournaments:write``
scope. Each write is audited with the request's correlation id.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, model_validator

from devspark.core.errors import (
    InvalidArgumentError,
    PermissionDeniedError,
)
from devspark.core.isolation import IsolationLevel
from devspark.core.status import TOURNAMENT_STATUSES
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
from devspark.server.pagination import Page, PageParams, keyset_params, page_params, paginate
from devspark.server.routes.matches import MatchPublic, with_results
from devspark.services import tournaments
from devspark.services.accounts import Action, can
from devspark.services.tournaments import (
    FORMATS,
    RatingSnapshotRow,
    TournamentParams,
    TournamentRow,
    planned_of,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/tournaments", tags=["tournaments"])

WRITE_SCOPE = "tournaments:write"
"""API-key scope needed to create, start or cancel a tournament."""

MAX_AGENTS = 64
"""The most entrants one tournament may have."""

MAX_ROUNDS = 100
"""The most legs, rounds or games per tie of a tournament."""

MAX_LADDER_MATCHES = 10_000
"""The most matches of one ladder."""

_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": ErrorBody, "description": "Not found: no such tournament."},
    409: {"model": ErrorBody, "description": "The tournament is not in a state that allows it."},
}
_CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    409: {"model": ErrorBody, "description": "An uploaded agent is not started."},
    422: {
        "model": ErrorBody,
        "description": "Unknown scenario or format, invalid entrants or options (with the "
        "near names).",
    },
}
_STANDINGS_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND_RESPONSE,
    409: {"model": ErrorBody, "description": "The tournament has not finished yet."},
}
_PUBLIC = [Depends(optional_actor)]

_TOURNAMENT_ID = "4b0c9e2a-1f3d-4e5a-8b6c-7d8e9f0a1b2c"
_TOURNAMENT_EXAMPLE: dict[str, Any] = {
    "id": _TOURNAMENT_ID,
    "owner_id": "5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "scenario_id": "tictactoe-v1",
    "format": "round_robin",
    "agents": ["builtin:minimax", "builtin:random"],
    "rounds": 2,
    "seed": 7,
    "options": {},
    "isolation": "sandbox",
    "pace_s": 0.0,
    "status": "running",
    "error": None,
    "created_at": "2025-01-31T12:00:00Z",
    "started_at": "2025-01-31T12:00:05Z",
    "finished_at": None,
    "matches": {
        "queued": 0,
        "running": 1,
        "finished": 2,
        "failed": 0,
        "cancelled": 0,
        "total": 3,
        "planned": 4,
    },
}
_STANDING_EXAMPLE: dict[str, Any] = {
    "rank": 1,
    "agent": "builtin:minimax",
    "rating": 1683.4,
    "lower": 1590.2,
    "upper": 1801.7,
    "matches": 4,
    "method": "bradley_terry",
}

# --------------------------------------------------------------------------- schemas


class TournamentCreate(BaseModel):
    """What ``POST /api/v1/tournaments`` needs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scenario": "tictactoe",
                    "format": "round_robin",
                    "agents": ["builtin:minimax", "builtin:random"],
                    "rounds": 2,
                    "seed": 7,
                    "options": {},
                    "isolation": "sandbox",
                }
            ]
        },
    )

    scenario: str = Field(min_length=1, max_length=128, description="Scenario name or id.")
    format: str = Field(
        description=f"One of: {', '.join(FORMATS)}.", json_schema_extra={"enum": list(FORMATS)}
    )
    agents: list[str] = Field(
        min_length=2,
        max_length=MAX_AGENTS,
        description="Entrants: `builtin:NAME` or a started upload `agent:USER/NAME[@VERSION]`; "
        "each once.",
        json_schema_extra={"uniqueItems": True},
    )
    rounds: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_LADDER_MATCHES,
        description="Legs, rounds or games per tie (at most 100), or a ladder's matches "
        f"(at most {MAX_LADDER_MATCHES}); null: the format's default.",
    )
    pace_s: StrictFloat = Field(
        default=0.0,
        ge=0.0,
        le=3600.0,
        description="Seconds between two of its matches (0: back to back); a long ladder "
        "with a pace plays on in the background.",
    )

    @model_validator(mode="after")
    def _rounds_fit_the_format(self) -> TournamentCreate:
        if self.rounds is not None and self.format != "ladder" and self.rounds > MAX_ROUNDS:
            raise ValueError(f"rounds={self.rounds} is over {MAX_ROUNDS} for {self.format}")
        return self

    seed: StrictInt = Field(default=0, ge=0, le=2**31 - 1, description="The format's seed.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Scenario reset options of every match, checked against the scenario "
        "(`difficulty`...; unknown keys and out-of-range values are 422; at most 16 KiB).",
    )
    isolation: IsolationLevel = Field(
        default=IsolationLevel.SANDBOX, description="Isolation of every agent in every match."
    )


class MatchCounts(BaseModel):
    """How many matches of a tournament are in each state, and how many it plans.

    Progress is ``finished + failed`` out of ``planned``; ``total`` counts only the
    matches written so far (an adaptive format writes each round once the previous
    one is played, a ladder a batch at a time).
    """

    queued: int = Field(ge=0)
    running: int = Field(ge=0)
    finished: int = Field(ge=0)
    failed: int = Field(ge=0)
    cancelled: int = Field(
        default=0, ge=0, description="Matches that never started: the tournament was cancelled."
    )
    total: int = Field(ge=0, description="Matches written so far (the sum of the above).")
    planned: int | None = Field(
        default=None,
        ge=0,
        description="Matches the format plans in all: exact for round robin, gauntlet, "
        "Swiss and ladder, the most it can play for an elimination bracket (a best-of "
        "tie ends once decided); null when unknown.",
    )


class TournamentPublic(BaseModel):
    """A tournament: its parameters, status and match progress."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TOURNAMENT_EXAMPLE]})

    id: uuid.UUID
    owner_id: uuid.UUID
    scenario_id: str = Field(description="Versioned scenario id.")
    format: str
    agents: list[str]
    rounds: int | None
    seed: int
    options: dict[str, Any]
    isolation: str
    pace_s: float = Field(description="Seconds between two of its matches.")
    status: str = Field(description="`created`, `running`, `finished`, `cancelled` or `failed`.")
    error: str | None = Field(
        default=None,
        description="Why the tournament failed (which match could not be played or "
        "stored, and why); null otherwise.",
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    matches: MatchCounts = Field(
        description="Matches written so far, by state, and the matches planned."
    )

    @classmethod
    def from_row(cls, row: TournamentRow, counts: MatchCounts) -> TournamentPublic:
        """Build the public view of a tournament row."""
        params = TournamentParams.from_json(row.params)
        return cls(
            id=row.id,
            owner_id=row.owner_id,
            scenario_id=row.scenario_id,
            format=row.format,
            agents=list(params.agents),
            rounds=params.rounds,
            seed=row.seed,
            options=dict(params.options or {}),
            isolation=params.isolation.value,
            pace_s=params.pace_s,
            status=row.status,
            error=row.error,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            matches=counts.model_copy(update={"planned": planned_of(row)}),
        )


class StandingPublic(BaseModel):
    """One line of a finished tournament's standings."""

    model_config = ConfigDict(json_schema_extra={"examples": [_STANDING_EXAMPLE]})

    rank: int | None
    agent: str
    rating: float
    lower: float | None = Field(description="Lower bound of the bootstrap interval.")
    upper: float | None = Field(description="Upper bound of the bootstrap interval.")
    matches: int = Field(ge=0)
    method: str = Field(description="Rating method.")

    @classmethod
    def from_row(cls, row: RatingSnapshotRow) -> StandingPublic:
        """Build a standings line from a rating snapshot."""
        return cls(
            rank=row.rank,
            agent=row.agent_ref,
            rating=row.rating,
            lower=row.lower,
            upper=row.upper,
            matches=row.matches,
            method=row.method,
        )


# --------------------------------------------------------------------------- helpers

Writer = Annotated[Actor, Depends(current_actor)]
Window = Annotated[PageParams, Depends(page_params)]
KeysetWindow = Annotated[PageParams, Depends(keyset_params)]
TournamentId = Annotated[uuid.UUID, PathParam(description="Tournament id.")]


def _authorize(actor: Actor, action: Action, what: str, row: TournamentRow | None = None) -> None:
    require_key_scope(actor, WRITE_SCOPE)
    owner = row.owner_id if row is not None else None
    if not can(actor.role, action, owner_id=owner, actor_id=actor.user.id):
        target = f" tournament {row.id}" if row is not None else " tournaments"
        raise PermissionDeniedError(
            f"user {actor.user.username!r} (role {actor.role.value!r}) may not {what}{target}"
            + (": only its owner or an admin may" if row is not None else "")
        )


def _check_duplicates(agents: list[str]) -> None:
    if len(set(agents)) != len(agents):
        raise InvalidArgumentError(f"agents={agents!r}: an agent is listed twice")


def _counts(found: dict[str, int]) -> MatchCounts:
    return MatchCounts(
        queued=found.get("queued", 0),
        running=found.get("running", 0),
        finished=found.get("finished", 0),
        failed=found.get("failed", 0),
        cancelled=found.get("cancelled", 0),
        total=sum(found.values()),
    )


def _public(session: SessionDep, row: TournamentRow) -> TournamentPublic:
    counts = tournaments.match_counts(session, [row.id])[row.id]
    return TournamentPublic.from_row(row, _counts(counts))


# --------------------------------------------------------------------------- tournaments


@router.post("", status_code=201, summary="Create a tournament", responses=_CREATE_RESPONSES)
def create(
    request: Request, body: TournamentCreate, session: SessionDep, actor: Writer
) -> TournamentPublic:
    """Persist a tournament with status `created`; `POST .../start` plays it."""
    _authorize(actor, Action.CREATE, "create")
    _check_duplicates(body.agents)
    params = TournamentParams(
        agents=tuple(body.agents),
        rounds=body.rounds,
        options=dict(body.options),
        isolation=body.isolation,
        pace_s=body.pace_s,
    )
    row = tournaments.create_tournament(
        session,
        owner_id=actor.user.id,
        scenario=body.scenario,
        format=body.format,
        agents=body.agents,
        params=params,
        seed=body.seed,
        audit=audit_context(request, actor),
    )
    return _public(session, row)


@router.post(
    "/{tournament_id}/start",
    status_code=202,
    summary="Start a tournament",
    responses=_WRITE_RESPONSES,
)
def start(
    request: Request, tournament_id: TournamentId, session: SessionDep, actor: Writer
) -> TournamentPublic:
    """Mark a `created` tournament `running`: the workers queue and play its matches."""
    _authorize(actor, Action.UPDATE, "start", tournaments.get_tournament(session, tournament_id))
    row = tournaments.start_tournament(session, tournament_id, audit_context(request, actor))
    return _public(session, row)


@router.post("/{tournament_id}/cancel", summary="Cancel a tournament", responses=_WRITE_RESPONSES)
def cancel_tournament(
    request: Request, tournament_id: TournamentId, session: SessionDep, actor: Writer
) -> TournamentPublic:
    """Cancel a tournament that has not finished; no match of it starts after this answer."""
    _authorize(actor, Action.UPDATE, "cancel", tournaments.get_tournament(session, tournament_id))
    row = tournaments.cancel(session, tournament_id, audit_context(request, actor))
    return _public(session, row)


@router.get("", summary="List tournaments", dependencies=_PUBLIC)
def list_tournaments(
    session: SessionDep,
    params: KeysetWindow,
    status: Annotated[
        str | None,
        Query(
            pattern=f"^({'|'.join(TOURNAMENT_STATUSES)})$",
            description="Only tournaments in this status.",
        ),
    ] = None,
    owner_id: Annotated[uuid.UUID | None, Query(description="Only this user's.")] = None,
) -> Page[TournamentPublic]:
    """Tournaments, newest first (by creation time, then id).

    Page by `offset`, or by `cursor` (each page's `next_cursor`); a cursor page has
    `total` null.
    """
    page = tournaments.list_tournaments(
        session,
        status=status,
        owner_id=owner_id,
        offset=params.offset,
        limit=params.limit,
        cursor=params.cursor,
    )
    counts = tournaments.match_counts(session, [row.id for row in page.items])
    return Page[TournamentPublic](
        items=[TournamentPublic.from_row(row, _counts(counts[row.id])) for row in page.items],
        total=page.total,
        offset=params.offset,
        limit=params.limit,
        next_cursor=page.next_cursor,
    )


@router.get(
    "/{tournament_id}",
    summary="Tournament status",
    dependencies=_PUBLIC,
    responses=NOT_FOUND_RESPONSE,
)
def get_tournament(tournament_id: TournamentId, session: SessionDep) -> TournamentPublic:
    """One tournament with its status and how many matches are queued, running, finished."""
    return _public(session, tournaments.get_tournament(session, tournament_id))


@router.get(
    "/{tournament_id}/standings",
    summary="Tournament standings",
    dependencies=_PUBLIC,
    responses=_STANDINGS_RESPONSES,
)
def standings(
    tournament_id: TournamentId, session: SessionDep, params: Window
) -> Page[StandingPublic]:
    """Final standings, best first; 409 until the tournament has finished."""
    snapshots = tournaments.standings(session, tournament_id)
    return paginate([StandingPublic.from_row(s) for s in snapshots], params)


@router.get(
    "/{tournament_id}/matches",
    summary="List a tournament's matches",
    dependencies=_PUBLIC,
    responses=NOT_FOUND_RESPONSE,
)
def tournament_matches(
    tournament_id: TournamentId, session: SessionDep, params: KeysetWindow
) -> Page[MatchPublic]:
    """The tournament's matches in the order they were written (results included).

    Page by `offset`, or by `cursor` (each page's `next_cursor`); a cursor page has
    `total` null.
    """
    page = tournaments.tournament_matches(
        session, tournament_id, offset=params.offset, limit=params.limit, cursor=params.cursor
    )
    return Page[MatchPublic](
        items=with_results(session, page.items),
        total=page.total,
        offset=params.offset,
        limit=params.limit,
        next_cursor=page.next_cursor,
    )


__all__ = ["WRITE_SCOPE", "router"]
