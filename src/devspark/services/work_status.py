"""What the workers and the queue are doing: the read model behind ``/api/v1/workers``.

A worker writes its row (:class:`~devspark.store.models.WorkerRow`) every few seconds
(:func:`devspark.services.queue.heartbeat`). A worker killed outright stops writing,
and its row keeps its last state until another worker reaps it. The reads here do not
wait for that: a worker whose heartbeat is older than the lease (``lease_s``,
:data:`~devspark.services.queue.DEFAULT_LEASE_S` by default) is reported ``offline``
whatever its row says. These functions only read; they never commit.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from devspark.core.errors import InvalidArgumentError
from devspark.core.status import WORKER_STATES, MatchStatus
from devspark.services.matches import window
from devspark.services.queue import DEFAULT_LEASE_S
from devspark.store.models import MatchRow, WorkerRow, utcnow

WorkerState = Literal["idle", "busy", "draining", "offline"]
"""A worker's state as the API shows it (the values of :data:`WORKER_STATES`)."""

OFFLINE: WorkerState = "offline"

DURATION_WINDOW_S = 300.0
"""Seconds back :func:`match_durations` looks for finished matches."""

DURATION_SAMPLE = 10_000
"""The most finished matches :func:`match_durations` reads (the latest ones)."""


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One worker as the API shows it.

    Attributes:
        id: The worker's id.
        name: The name it registered under.
        host: The machine it runs on.
        pid: Its process id there.
        executor: ``local`` or ``ray``.
        slots: Matches it plays at once.
        state: ``idle``, ``busy``, ``draining`` or ``offline`` (also when its heartbeat is
            older than the lease).
        started_at: When it registered.
        heartbeat_at: Its latest heartbeat.
        matches_played: Matches it has played since it started.
        in_flight: Matches it is playing now (0 when offline).

    """

    id: uuid.UUID
    name: str
    host: str
    pid: int
    executor: str
    slots: int
    state: WorkerState
    started_at: datetime
    heartbeat_at: datetime
    matches_played: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How much work waits, is being played, and was just played.

    Attributes:
        queued: Matches waiting for a worker.
        running: Matches a worker is playing.
        finished_last_minute: Matches that finished in the last 60 seconds.

    """

    queued: int
    running: int
    finished_last_minute: int


@dataclass(frozen=True, slots=True)
class MatchDurations:
    """Wall times of the matches that finished recently.

    Attributes:
        window_s: How far back the sample looks, in seconds.
        seconds: Each match's wall time in seconds, shortest first.

    """

    window_s: float
    seconds: tuple[float, ...]

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (nearest rank) of the wall times; NaN without any.

        Raises:
            InvalidArgumentError: ``q`` is outside ``0..1``.

        """
        if not 0.0 <= q <= 1.0:
            raise InvalidArgumentError(f"q={q!r} must be between 0 and 1")
        if not self.seconds:
            return math.nan
        rank = max(1, math.ceil(q * len(self.seconds)))
        return self.seconds[rank - 1]


def _stale(cutoff: datetime) -> ColumnElement[bool]:
    return or_(WorkerRow.state == OFFLINE, WorkerRow.heartbeat_at < cutoff)


def _cutoff(lease_s: float, now: datetime | None) -> datetime:
    return (now or utcnow()) - timedelta(seconds=lease_s)


def list_workers(
    session: Session,
    *,
    limit: int,
    offset: int,
    state: str | None = None,
    lease_s: float = DEFAULT_LEASE_S,
    now: datetime | None = None,
) -> tuple[list[WorkerStatus], int]:
    """One window of the workers, live ones first, and how many match ``state`` in all.

    Live workers come first by name, then the offline ones, latest heartbeat first.

    Args:
        session: Database session.
        limit: The most workers returned.
        offset: Index of the first worker returned.
        state: Only workers in this effective state (one of :data:`WORKER_STATES`).
        lease_s: A heartbeat older than this many seconds means ``offline``.
        now: The time to judge heartbeats against (now by default).

    Returns:
        The workers of the window and the total count of the filtered listing.

    Raises:
        InvalidArgumentError: ``state`` is not a worker state.

    """
    cutoff = _cutoff(lease_s, now)
    stale = _stale(cutoff)
    query = select(WorkerRow)
    if state is not None:
        if state not in WORKER_STATES:
            raise InvalidArgumentError(f"state={state!r} is not one of: {', '.join(WORKER_STATES)}")
        query = query.where(stale if state == OFFLINE else and_(~stale, WorkerRow.state == state))
    offline_last = case((stale, 1), else_=0)
    ordered = query.order_by(
        offline_last,
        case((stale, None), else_=WorkerRow.name),
        WorkerRow.heartbeat_at.desc(),
        WorkerRow.id,
    )
    rows, total = window(session, ordered, offset, limit)
    return [_status(row, cutoff) for row in rows], total


def _status(row: WorkerRow, cutoff: datetime) -> WorkerStatus:
    offline = row.state == OFFLINE or row.heartbeat_at < cutoff
    state: WorkerState = OFFLINE if offline else _known(row.state)
    return WorkerStatus(
        id=row.id,
        name=row.name,
        host=row.host,
        pid=row.pid,
        executor=row.executor,
        slots=row.slots,
        state=state,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        matches_played=row.matches_played,
        in_flight=0 if offline else row.in_flight,
    )


def _known(state: str) -> WorkerState:
    for known in get_args(WorkerState):
        if known == state:
            return known  # type: ignore[no-any-return]
    return OFFLINE  # the CHECK constraint keeps other values out


def queue_stats(session: Session, *, now: datetime | None = None) -> QueueStats:
    """How many matches are queued and running, and how many finished in the last minute.

    Args:
        session: Database session.
        now: The time the last minute ends at (now by default).

    Returns:
        The counts.

    """
    since = (now or utcnow()) - timedelta(seconds=60)
    counted: dict[str, int] = {
        status: count
        for status, count in session.execute(
            select(MatchRow.status, func.count())
            .where(MatchRow.status.in_([MatchStatus.QUEUED, MatchStatus.RUNNING]))
            .group_by(MatchRow.status)
        )
    }
    finished = session.scalar(
        select(func.count()).where(
            MatchRow.status == MatchStatus.FINISHED, MatchRow.finished_at >= since
        )
    )
    return QueueStats(
        queued=int(counted.get(MatchStatus.QUEUED, 0)),
        running=int(counted.get(MatchStatus.RUNNING, 0)),
        finished_last_minute=int(finished or 0),
    )


def match_durations(
    session: Session, *, window_s: float = DURATION_WINDOW_S, now: datetime | None = None
) -> MatchDurations:
    """Wall times of the matches that finished in the last ``window_s`` seconds.

    At most :data:`DURATION_SAMPLE` of them (the latest) are read, so a busy deployment's
    scrape stays cheap.

    Args:
        session: Database session.
        window_s: How far back to look, in seconds.
        now: The time the window ends at (now by default).

    Returns:
        The sample, shortest first.

    """
    since = (now or utcnow()) - timedelta(seconds=window_s)
    walls: Sequence[float] = session.scalars(
        select(MatchRow.wall_ms)
        .where(MatchRow.status == MatchStatus.FINISHED, MatchRow.finished_at >= since)
        .order_by(MatchRow.finished_at.desc())
        .limit(DURATION_SAMPLE)
    ).all()
    return MatchDurations(window_s=window_s, seconds=tuple(sorted(w / 1000 for w in walls)))


def matches_per_worker(
    session: Session, *, lease_s: float = DEFAULT_LEASE_S, now: datetime | None = None
) -> dict[str, int]:
    """Matches played by each live worker, by name (live workers sharing a name summed).

    Offline workers are left out, so the names stay as few as the workers running.

    Args:
        session: Database session.
        lease_s: A heartbeat older than this many seconds means ``offline``.
        now: The time to judge heartbeats against (now by default).

    Returns:
        For each live worker's name, the matches it has played since it started.

    """
    stale = _stale(_cutoff(lease_s, now))
    rows = session.execute(
        select(WorkerRow.name, func.sum(WorkerRow.matches_played))
        .where(~stale)
        .group_by(WorkerRow.name)
        .order_by(WorkerRow.name)
    )
    return {name: int(played or 0) for name, played in rows}


__all__ = [
    "DURATION_SAMPLE",
    "DURATION_WINDOW_S",
    "MatchDurations",
    "QueueStats",
    "WorkerState",
    "WorkerStatus",
    "list_workers",
    "match_durations",
    "matches_per_worker",
    "queue_stats",
]
