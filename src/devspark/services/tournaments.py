"""Tournament use cases: create one, start it, cancel it, read them; its stored parameters.

A tournament is a :class:`~devspark.store.models.TournamentRow` whose ``params`` hold
everything needed to rebuild its format (:class:`TournamentParams`). Workers play it
(:mod:`devspark.services.durable`); these functions only write and read rows.

Each write use case (:func:`create_tournament`, :func:`start_tournament`, :func:`cancel`)
is one transaction: it makes its change, records its audit entry through the
:class:`~devspark.services.audit.AuditContext` it is given, and commits once; on any
failure it rolls back and nothing of it is kept. Reads never write.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from devspark.arena.formats import TournamentFormat
from devspark.arena.tournament import FORMATS, build_format, planned_matches
from devspark.core.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    did_you_mean,
)
from devspark.core.isolation import IsolationLevel
from devspark.core.status import MatchStatus, TournamentStatus
from devspark.rating.models import OpenSkillRatings
from devspark.scenarios.options import check_options
from devspark.services.audit import SYSTEM, AuditContext
from devspark.services.entrants import check_entrants
from devspark.services.keyset import Keyset, Window, keyset_window
from devspark.services.matches import list_matches
from devspark.services.playing import ensure_scenario, scenario_for_work
from devspark.services.transaction import in_transaction
from devspark.store.models import MatchRow, RatingSnapshotRow, TournamentRow, utcnow


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
    audit: AuditContext = SYSTEM,
) -> TournamentRow:
    """Persist a tournament with status ``"created"`` and its audit entry (one commit).

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
        audit: Who creates it; its ``tournament.create`` entry commits with the row
            (default: the platform itself).

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

    def change() -> TournamentRow:
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
            status=TournamentStatus.CREATED.value,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            "tournament.create",
            "tournament",
            row.id,
            scenario=row.scenario_id,
            format=row.format,
            agents=list(agents),
        )
        return row

    return in_transaction(session, change)


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


def start_tournament(
    session: Session, tournament_id: uuid.UUID, audit: AuditContext = SYSTEM
) -> TournamentRow:
    """Mark a ``created`` tournament ``running`` with its audit entry (one commit).

    It is committed before anything plays it, so a server stopped before a worker
    picked it up still finds it ``running``.

    Args:
        session: Database session.
        tournament_id: The tournament to start.
        audit: Who starts it (its ``tournament.start`` entry).

    Returns:
        The committed row.

    Raises:
        NotFoundError: No such tournament.
        FailedPreconditionError: It is not ``created``.

    """

    def change() -> TournamentRow:
        row = get_tournament(session, tournament_id, lock=True)
        if row.status != TournamentStatus.CREATED:
            raise FailedPreconditionError(
                f"tournament {tournament_id} is {row.status!r}; only a 'created' one can start"
            )
        row.status = TournamentStatus.RUNNING.value
        row.started_at = utcnow()
        audit.record(session, "tournament.start", "tournament", row.id)
        return row

    return in_transaction(session, change)


def cancel(
    session: Session, tournament_id: uuid.UUID, audit: AuditContext = SYSTEM
) -> TournamentRow:
    """Cancel a tournament with its audit entry (one commit); its runner stops.

    Its matches still queued end ``cancelled`` in the same transaction; the one in
    progress, if any, finishes. Cancelling a cancelled tournament changes nothing but
    is still recorded.

    Args:
        session: Database session.
        tournament_id: The tournament to cancel.
        audit: Who cancels it (its ``tournament.cancel`` entry, with ``previous``: the
            status it had).

    Returns:
        The committed row.

    Raises:
        NotFoundError: No such tournament.
        FailedPreconditionError: It has already finished or failed.

    """

    def change() -> TournamentRow:
        row = get_tournament(session, tournament_id, lock=True)
        previous = row.status
        if previous in (TournamentStatus.FINISHED, TournamentStatus.FAILED):
            raise FailedPreconditionError(
                f"tournament {tournament_id} has already {previous}"
                + (f": {row.error}" if row.error else "")
            )
        if previous != TournamentStatus.CANCELLED:
            row.status = TournamentStatus.CANCELLED.value
            row.finished_at = utcnow()
            end_queued(session, tournament_id)  # what never started ends with it
        audit.record(session, "tournament.cancel", "tournament", row.id, previous=previous)
        return row

    return in_transaction(session, change)


def end_queued(session: Session, tournament_id: uuid.UUID) -> None:
    """Mark a cancelled tournament's queued matches ``cancelled`` (does not commit).

    They end when the tournament did. The cancel does it, and so does a runner that
    wrote a batch's rows just before it saw the cancel.
    """
    ended_at = select(TournamentRow.finished_at).where(TournamentRow.id == tournament_id)
    session.execute(
        update(MatchRow)
        .where(MatchRow.tournament_id == tournament_id, MatchRow.status == MatchStatus.QUEUED)
        .values(status=MatchStatus.CANCELLED.value, finished_at=ended_at.scalar_subquery())
        .execution_options(synchronize_session=False)
    )


def get_tournament(
    session: Session, tournament_id: uuid.UUID, *, lock: bool = False
) -> TournamentRow:
    """The tournament ``tournament_id``.

    Args:
        session: Database session.
        tournament_id: The tournament.
        lock: Read it again under its row lock (``SELECT ... FOR UPDATE`` on PostgreSQL),
            as a status change does: a worker writing its matches holds the same lock,
            so the two take turns.

    Raises:
        NotFoundError: No such tournament.

    """
    row = (
        session.get(TournamentRow, tournament_id, with_for_update=True, populate_existing=True)
        if lock
        else session.get(TournamentRow, tournament_id)
    )
    if row is None:
        raise NotFoundError(f"tournament {tournament_id} does not exist")
    return row


TOURNAMENTS = Keyset(
    "tournaments", (TournamentRow.created_at, TournamentRow.id), (datetime, uuid.UUID)
)
"""The tournaments list's order: newest first, by ``(created_at, id)`` (both descending)."""


def list_tournaments(
    session: Session,
    *,
    status: str | None = None,
    owner_id: uuid.UUID | None = None,
    offset: int = 0,
    limit: int = 50,
    cursor: str | None = None,
) -> Window[TournamentRow]:
    """One page of the tournaments, newest first, by offset or by cursor.

    Args:
        session: Database session.
        status: Only tournaments in this status.
        owner_id: Only this user's.
        offset: Index of the first row returned (0 with a cursor).
        limit: The most rows returned.
        cursor: Continue after this ``next_cursor`` of a previous page (send the same
            filters); ``""``: the first page (:mod:`devspark.services.keyset`).

    Returns:
        The rows of the page, the total count of the filtered list (``None`` on a cursor
        page) and the cursor of the next page (``None`` at the end).

    Raises:
        InvalidArgumentError: ``cursor`` is malformed or from another list, or it comes
            with an ``offset``.

    """
    query = select(TournamentRow)
    if status is not None:
        query = query.where(TournamentRow.status == status)
    if owner_id is not None:
        query = query.where(TournamentRow.owner_id == owner_id)
    return keyset_window(session, query, TOURNAMENTS, cursor=cursor, offset=offset, limit=limit)


def match_counts(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """How many matches each tournament of ``ids`` has in each status (one query).

    Returns:
        For every id, ``{status: count}`` over the statuses it has matches in.

    """
    found: dict[uuid.UUID, dict[str, int]] = {i: {} for i in ids}
    if ids:
        rows = session.execute(
            select(MatchRow.tournament_id, MatchRow.status, func.count())
            .where(MatchRow.tournament_id.in_(list(ids)))
            .group_by(MatchRow.tournament_id, MatchRow.status)
        )
        for tournament_id, status, count in rows:
            if tournament_id is not None:
                found[tournament_id][str(status)] = int(count)
    return found


def standings(session: Session, tournament_id: uuid.UUID) -> list[RatingSnapshotRow]:
    """The final standings of a finished tournament, best first.

    Raises:
        NotFoundError: No such tournament.
        FailedPreconditionError: It has not finished.

    """
    row = get_tournament(session, tournament_id)
    if row.status != TournamentStatus.FINISHED:
        raise FailedPreconditionError(
            f"tournament {tournament_id} is {row.status!r}; standings exist once it finished"
        )
    return list(
        session.scalars(
            select(RatingSnapshotRow)
            .where(RatingSnapshotRow.tournament_id == tournament_id)
            .order_by(RatingSnapshotRow.rank, RatingSnapshotRow.rating.desc())
        )
    )


def tournament_matches(
    session: Session,
    tournament_id: uuid.UUID,
    *,
    offset: int = 0,
    limit: int = 50,
    cursor: str | None = None,
) -> Window[MatchRow]:
    """One page of a tournament's matches in the order they were written.

    Args:
        session: Database session.
        tournament_id: The tournament.
        offset: Index of the first row returned (0 with a cursor).
        limit: The most rows returned.
        cursor: Continue after this ``next_cursor``; ``""``: the first page.

    Returns:
        The page (as :func:`~devspark.services.matches.list_matches` gives it).

    Raises:
        NotFoundError: No such tournament.
        InvalidArgumentError: ``cursor`` is malformed or comes with an ``offset``.

    """
    get_tournament(session, tournament_id)
    return list_matches(
        session,
        tournament_id=tournament_id,
        offset=offset,
        limit=limit,
        cursor=cursor,
        oldest_first=True,
    )


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
    "FORMATS",
    "TOURNAMENTS",
    "RatingSnapshotRow",
    "TournamentParams",
    "TournamentRow",
    "build",
    "cancel",
    "create_tournament",
    "end_queued",
    "get_tournament",
    "list_tournaments",
    "match_counts",
    "planned_of",
    "standings",
    "start_tournament",
    "tournament_matches",
]
