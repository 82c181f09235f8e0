"""Leaderboards over HTTP.

* ``GET /api/v1/leaderboards``: each agent's latest rating snapshot per scenario, as
  the tournament that produced it published it.
* ``GET /api/v1/leaderboards/boards``: the platform's boards over every finished
  match (global, per scenario, per domain, efficiency, rating history), rated together
  from kept pair counts and refitted in the background
  (:mod:`devspark.services.board_keeper`): a read serves the last boards built, as
  stored JSON, and never waits for a fit.
* ``GET /api/v1/leaderboards/head-to-head?agent=REF``: wins, draws and losses of one
  agent against each opponent.

All are public reads.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from devspark.scenarios import resolve
from devspark.server.auth import optional_actor
from devspark.server.cache import TtlCache
from devspark.server.deps import SessionDep
from devspark.server.errors import NOT_FOUND_RESPONSE
from devspark.server.pagination import Page, PageParams, page_params, paginate
from devspark.services.board_keeper import BoardKeeper
from devspark.services.boards import head_to_head
from devspark.services.leaderboards import RatingSnapshotRow, latest_snapshots

router = APIRouter(prefix="/api/v1/leaderboards", tags=["leaderboards"])

_PUBLIC = [Depends(optional_actor)]
_TOURNAMENT_ID = "4b0c9e2a-1f3d-4e5a-8b6c-7d8e9f0a1b2c"
Window = Annotated[PageParams, Depends(page_params)]

_LEADER_EXAMPLE: dict[str, Any] = {
    "scenario_id": "tictactoe-v1",
    "agent": "builtin:minimax",
    "rating": 1683.4,
    "lower": 1590.2,
    "upper": 1801.7,
    "rank": 1,
    "matches": 4,
    "method": "bradley_terry",
    "tournament_id": _TOURNAMENT_ID,
    "taken_at": "2025-01-31T12:01:00Z",
}


class LeaderboardEntry(BaseModel):
    """An agent's latest rating snapshot in a scenario."""

    model_config = ConfigDict(json_schema_extra={"examples": [_LEADER_EXAMPLE]})

    scenario_id: str | None
    agent: str
    rating: float
    lower: float | None
    upper: float | None
    rank: int | None = Field(description="Rank in the tournament that produced the snapshot.")
    matches: int = Field(ge=0)
    method: str
    tournament_id: uuid.UUID | None
    taken_at: datetime

    @classmethod
    def from_row(cls, row: RatingSnapshotRow) -> LeaderboardEntry:
        """Build a leaderboard line from a rating snapshot."""
        return cls(
            scenario_id=row.scenario_id,
            agent=row.agent_ref,
            rating=row.rating,
            lower=row.lower,
            upper=row.upper,
            rank=row.rank,
            matches=row.matches,
            method=row.method,
            tournament_id=row.tournament_id,
            taken_at=row.taken_at,
        )


class BoardRow(BaseModel):
    """One agent's line on a platform board."""

    agent: str
    rank: int = Field(description="1 + agents whose whole interval lies above this one's.")
    rating: float
    lower: float = Field(description="Lower end of the 95% interval.")
    upper: float = Field(description="Upper end of the 95% interval.")
    matches: int = Field(ge=0)
    wins: int = Field(ge=0)
    draws: int = Field(ge=0)
    losses: int = Field(ge=0)
    cpu_s_per_move: float | None
    statuses: dict[str, int] = Field(description="How its matches ended: status -> count.")


class EfficiencyLine(BaseModel):
    """An agent's global rating against its CPU cost per move."""

    agent: str
    rating: float
    cpu_s_per_move: float | None
    pareto: bool = Field(description="No other agent is both as strong and as cheap.")


_BOARD_ROW: dict[str, Any] = {
    "agent": "builtin:connect-four-alphabeta",
    "rank": 1,
    "rating": 1742.5,
    "lower": 1655.0,
    "upper": 1840.2,
    "matches": 24,
    "wins": 21,
    "draws": 1,
    "losses": 2,
    "cpu_s_per_move": 0.0031,
    "statuses": {"ok": 24},
}


class PlatformLeaderboards(BaseModel):
    """Every board over all finished matches on this server."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "method": "bradley_terry",
                    "global": [_BOARD_ROW],
                    "by_scenario": {"connect_four-v1": [_BOARD_ROW]},
                    "by_domain": {"game": [_BOARD_ROW]},
                    "efficiency": [
                        {
                            "agent": "builtin:connect-four-alphabeta",
                            "rating": 1742.5,
                            "cpu_s_per_move": 0.0031,
                            "pareto": True,
                        }
                    ],
                    "history": {"builtin:connect-four-alphabeta": [[1, 26.1, 7.9]]},
                    "matches": 24,
                }
            ]
        },
    )

    method: str
    global_: list[BoardRow] = Field(alias="global", description="All scenarios together.")
    by_scenario: dict[str, list[BoardRow]]
    by_domain: dict[str, list[BoardRow]]
    efficiency: list[EfficiencyLine]
    history: dict[str, list[list[float]]] = Field(
        description="Agent -> [match number, OpenSkill mu, sigma] after its matches "
        "(evenly thinned: at most 200 points per agent and 20,000 in all, 20 per agent "
        "at least)."
    )
    matches: int = Field(ge=0, description="Rated matches behind the boards.")
    built_at: datetime | None = Field(
        description="When the boards were built (null before the first match is rated)."
    )


class HeadToHeadLine(BaseModel):
    """An agent's record against one opponent."""

    opponent: str
    wins: int = Field(ge=0)
    draws: int = Field(ge=0)
    losses: int = Field(ge=0)


class HeadToHead(BaseModel):
    """An agent's record against each opponent, most played first."""

    agent: str
    opponents: list[HeadToHeadLine]


def _boards(request: Request) -> BoardKeeper:
    keeper: BoardKeeper = request.app.state.boards
    return keeper


@router.get(
    "/boards",
    summary="Platform leaderboards",
    dependencies=_PUBLIC,
    response_model=PlatformLeaderboards,
    response_model_by_alias=True,
    responses={304: {"description": "Not refitted since the `ETag` sent in `If-None-Match`."}},
)
def platform_boards(
    request: Request,
    session: SessionDep,
    method: Annotated[
        Literal["bradley_terry", "openskill"],
        Query(
            description="Bradley-Terry with bootstrap intervals, or OpenSkill mu -/+ 1.96 sigma."
        ),
    ] = "bradley_terry",
) -> Response:
    """Global, per-scenario, per-domain and efficiency boards over every finished match.

    Unlike the snapshot leaderboard, all agents are rated on one scale from all their
    matches. The boards are refitted in the background at most every few seconds while
    matches arrive; `matches` and `built_at` say what they cover. A read never waits
    for a fit. Served gzip-encoded to clients that accept it, with an `ETag`: a client
    that sends it back in `If-None-Match` gets `304` until the boards are refitted.
    """
    served = _boards(request).served(session, method)
    headers = {"ETag": served.etag, "Vary": "Accept-Encoding"}
    if served.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(served.gzip(), media_type="application/json", headers=headers)
    return Response(served.body, media_type="application/json", headers=headers)


@router.get("/head-to-head", summary="An agent's record per opponent", dependencies=_PUBLIC)
def agent_head_to_head(
    session: SessionDep,
    agent: Annotated[str, Query(min_length=1, max_length=255, description="Agent reference.")],
) -> HeadToHead:
    """Wins, draws and losses of `agent` against each opponent it met."""
    return HeadToHead(
        agent=agent,
        opponents=[HeadToHeadLine(**line) for line in head_to_head(session, agent)],
    )


@router.get(
    "",
    summary="Leaderboard",
    dependencies=_PUBLIC,
    responses=NOT_FOUND_RESPONSE,
    response_model=Page[LeaderboardEntry],
)
async def leaderboard(
    request: Request,
    params: Window,
    scenario: Annotated[
        str | None,
        Query(description="Scenario name or id; all scenarios when omitted.", max_length=128),
    ] = None,
) -> Response:
    """Each agent's latest rating snapshot per scenario, highest rating first.

    Ratings come from the tournament that produced each snapshot; agents rated in
    different tournaments are not on a common scale. Answers may lag the database by up
    to a second (the hottest public read is cached).
    """
    scenario_id = None if scenario is None else resolve(scenario).full_id
    key = ("snapshots", scenario_id, params.offset, params.limit)
    cache = _cache(request)
    body = cache.get(key)
    if body is None:
        body = await run_in_threadpool(_snapshot_page, request, scenario_id, params)
        cache.put(key, body)
    return Response(body, media_type="application/json")


def _snapshot_page(request: Request, scenario_id: str | None, params: PageParams) -> bytes:
    ordered = latest_snapshots(request.app.state.session_factory, scenario_id)
    page = paginate([LeaderboardEntry.from_row(s) for s in ordered], params)
    return page.model_dump_json().encode()


def _cache(request: Request) -> TtlCache:
    cache: TtlCache | None = getattr(request.app.state, "read_cache", None)
    if cache is None:
        cache = request.app.state.read_cache = TtlCache()
    return cache


__all__ = ["router"]
