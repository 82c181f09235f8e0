"""Tournament use cases: create one, start it, cancel it; and its stored parameters.

A tournament is a :class:`~devspark.store.models.TournamentRow` whose ``params`` hold
everything needed to rebuild its format (:class:`TournamentParams`). Workers play it
(:mod:`devspark.services.durable`); these functions only write rows.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from devspark.arena.formats import TournamentFormat
from devspark.arena.tournament import FORMATS, build_format, planned_matches
from devspark.core.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    did_you_mean,
)
from devspark.rating.models import OpenSkillRatings
from devspark.sandbox import IsolationLevel
from devspark.scenarios.options import check_options
from devspark.services.entrants import check_entrants
from devspark.services.playing import ensure_scenario, scenario_for_work
from devspark.store.models import MatchRow, TournamentRow, utcnow


@dataclass(frozen=True, slots=True)
class TournamentParams:
    """The persisted parameters of a tournament (``TournamentRow.params``).

    Attributes:
        agents: Entrants (agent references).
        rounds: Legs, rounds, games per tie... (see :func:`build_format`); ``None``: default.
        baselines: A gauntlet's fixed opponents.
        options: Scenario reset options of every match.
        isolation: Isolation level of every agent.
        seats: Agents per match (round robin of a multi-player scenario).
        bootstrap: Bootstrap resamples for the published intervals.
        pace_s: Seconds the server's runner waits between two matches of this
            tournament (0: back to back). A long ladder with a pace is a continuous
            ladder: it keeps playing in the background without taking the machine.
        planned: Matches the format plans in all (:func:`planned_matches`), set by
            :func:`create_tournament`; ``None`` in rows stored before it existed.

    """

    agents: tuple[str, ...]
    rounds: int | None = None
    baselines: tuple[str, ...] = ()
    options: dict[str, Any] | None = None
    isolation: IsolationLevel = IsolationLevel.SANDBOX
    seats: int = 2
    bootstrap: int = 200
    pace_s: float = 0.0
    planned: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in ``TournamentRow.params``."""
        return {
            "agents": list(self.agents),
            "rounds": self.rounds,
            "baselines": list(self.baselines),
            "options": dict(self.options or {}),
            "isolation": self.isolation.value,
            "seats": self.seats,
            "bootstrap": self.bootstrap,
            "pace_s": self.pace_s,
            "planned": self.planned,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TournamentParams:
        """Parameters read back from ``TournamentRow.params``."""
        return cls(
            agents=tuple(data["agents"]),
            rounds=data.get("rounds"),
            baselines=tuple(data.get("baselines", ())),
            options=dict(data.get("options") or {}),
            isolation=IsolationLevel(data.get("isolation", IsolationLevel.SANDBOX.value)),
            seats=int(data.get("seats", 2)),
            bootstrap=int(data.get("bootstrap", 200)),
            pace_s=float(data.get("pace_s", 0.0)),
            planned=None if data.get("planned") is None else int(data["planned"]),
        )


def create_tournament(
    session: Session,
    *,
    owner_id: uuid.UUID,
    scenario: str,
    format: str,
    agents: Sequence[str],
    params: TournamentParams | dict[str, Any] | None = None,
    seed: int = 0,
) -> TournamentRow:
    """Persist a tournament with status ``"created"`` (commits).

    Args:
        session: Database session.
        owner_id: The user who owns it.
        scenario: Scenario name or versioned id (resolved to its versioned id).
        format: One of :data:`devspark.arena.tournament.FORMATS`.
        agents: Entrants; they override ``params.agents``.
        params: Rounds, baselines, options, isolation... as :class:`TournamentParams`
            or its JSON form (:meth:`TournamentParams.to_json`, ``agents`` optional);
            ``None``: the defaults.
        seed: The format's seed.

    Returns:
        The committed row.

    Raises:
        InvalidArgumentError: Unknown scenario or format, arguments the format refuses, or options
            the scenario refuses (unknown key, value out of range, over 16 KiB).

    """
    if format not in FORMATS:
        raise InvalidArgumentError(
            f"format={format!r} is not one of: {', '.join(FORMATS)}{did_you_mean(format, FORMATS)}"
        )
    cls = scenario_for_work(scenario)
    if isinstance(params, dict):
        try:
            base = TournamentParams.from_json({"agents": (), **params})
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"params {params!r}: {exc}") from exc
    else:
        base = params or TournamentParams(agents=())
    if base.pace_s < 0:
        raise InvalidArgumentError(f"pace_s={base.pace_s!r} must not be negative")
    stored = replace(
        base,
        options=check_options(cls, base.options),
        agents=tuple(check_entrants(session, agents, base.isolation, cls.full_id)),
        baselines=tuple(
            check_entrants(session, base.baselines, base.isolation, cls.full_id, "baselines")
        ),
    )
    fmt = build(format, stored, seed, OpenSkillRatings())  # refuse bad arguments now
    stored = replace(stored, planned=planned_matches(fmt))
    ensure_scenario(session, cls.full_id)
    row = TournamentRow(
        owner_id=owner_id,
        scenario_id=cls.full_id,
        format=format,
        params=stored.to_json(),
        seed=seed,
        status="created",
    )
    session.add(row)
    session.commit()
    return row


def planned_of(row: TournamentRow) -> int | None:
    """The matches a stored tournament plans (computed once for rows stored without it)."""
    params = TournamentParams.from_json(row.params)
    if params.planned is not None:
        return params.planned
    return _planned(row.format, params.agents, params.rounds, params.baselines, params.seats)


@functools.lru_cache(maxsize=256)
def _planned(
    fmt: str, agents: tuple[str, ...], rounds: int | None, baselines: tuple[str, ...], seats: int
) -> int | None:
    params = TournamentParams(agents=agents, rounds=rounds, baselines=baselines, seats=seats)
    try:
        return planned_matches(build(fmt, params, 0, OpenSkillRatings()))
    except (InvalidArgumentError, ValueError):
        return None


def cancel(session: Session, tournament_id: uuid.UUID) -> TournamentRow:
    """Cancel a tournament; its runner stops before the next match (commits).

    Its matches still queued end ``cancelled`` in the same transaction; the one in
    progress, if any, finishes.

    Raises:
        NotFoundError: No such tournament.
        FailedPreconditionError: It has already finished or failed.

    """
    row = get_tournament(session, tournament_id)
    if row.status in ("finished", "failed"):
        raise FailedPreconditionError(
            f"tournament {tournament_id} has already {row.status}"
            + (f": {row.error}" if row.error else "")
        )
    if row.status != "cancelled":
        row.status = "cancelled"
        row.finished_at = utcnow()
        end_queued(session, tournament_id)  # what never started ends with it
        session.commit()
    return row


def end_queued(session: Session, tournament_id: uuid.UUID) -> None:
    """Mark a cancelled tournament's queued matches ``cancelled`` (does not commit).

    They end when the tournament did. The cancel does it, and so does a runner that
    wrote a batch's rows just before it saw the cancel.
    """
    ended_at = select(TournamentRow.finished_at).where(TournamentRow.id == tournament_id)
    session.execute(
        update(MatchRow)
        .where(MatchRow.tournament_id == tournament_id, MatchRow.status == "queued")
        .values(status="cancelled", finished_at=ended_at.scalar_subquery())
        .execution_options(synchronize_session=False)
    )


def get_tournament(session: Session, tournament_id: uuid.UUID) -> TournamentRow:
    """The tournament ``tournament_id``.

    Raises:
        NotFoundError: No such tournament.

    """
    row = session.get(TournamentRow, tournament_id)
    if row is None:
        raise NotFoundError(f"tournament {tournament_id} does not exist")
    return row


def build(
    name: str, params: TournamentParams, seed: int, ratings: OpenSkillRatings
) -> TournamentFormat:
    """The format ``name`` built from stored parameters (deterministic given ``seed``)."""
    return build_format(
        name,
        params.agents,
        seed=seed,
        rounds=params.rounds,
        baselines=params.baselines,
        ratings=ratings,
        seats=params.seats,
    )


__all__ = [
    "TournamentParams",
    "build",
    "cancel",
    "create_tournament",
    "end_queued",
    "get_tournament",
    "planned_of",
]
