"""The work queue in the database: workers register, claim matches, beat, and are reaped.

Work is rows. A match waiting to be played is a :class:`~devspark.store.models.MatchRow`
with status ``queued``; a tournament that is ``running`` queues the matches of its
current round (:mod:`devspark.services.durable`). Any number of workers share one
database:

* :func:`register_worker` adds a :class:`~devspark.store.models.WorkerRow`; the worker
  then calls :func:`heartbeat` every few seconds.
* :func:`claim_match` takes the next queued match: it is marked ``running`` with the
  worker's id in one short transaction. On PostgreSQL the match row is picked with
  ``FOR UPDATE SKIP LOCKED``, so two workers never wait on each other for the same row
  and never take the same one; a tournament's row is locked (an ``UPDATE``) before its
  match, so claims of one tournament are ordered against its cancel and its pace.
* :func:`reap` ends the lease of workers whose heartbeat is older than ``lease_s``: they
  are ``offline`` and the matches they held go back to the queue, to be played again
  from their spec (matches are deterministic). A match is stored only by the worker
  that holds it (:func:`devspark.services.playing.store_claimed`), so a worker that
  comes back after its lease ran out cannot store a match twice.

Claims are fair: the queued match whose tournament was served least recently goes first
(a match of its own counts from when it was created), so a long ladder never starves a
match queued behind it. A paced tournament (``pace_s``) starts its matches at least
that far apart, across all workers.

On SQLite (one worker at a time, see :mod:`devspark.worker.lease`) the same statements
run without row locks; the conditional updates still keep two threads of that worker
from taking one match.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    CursorResult,
    ScalarSelect,
    Update,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from devspark.core.errors import InvalidArgumentError
from devspark.core.status import WORKER_STATES
from devspark.store.models import MatchRow, TournamentRow, UtcDateTime, WorkerRow, utcnow

DEFAULT_LEASE_S = 15.0
"""Seconds without a heartbeat after which a worker's matches go back to the queue."""


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """Who a worker is, as shown by ``GET /api/v1/workers``.

    Attributes:
        name: A name an operator chose (defaults to ``<host>-<pid>``).
        host: The machine's host name.
        pid: The worker's process id.
        executor: ``local`` or ``ray``.
        slots: Matches it plays at once.

    """

    name: str
    host: str
    pid: int
    executor: str = "local"
    slots: int = 1

    @classmethod
    def here(cls, name: str | None = None, *, executor: str = "local", slots: int = 1) -> Self:
        """This process: its host name and pid; ``name`` defaults to ``host-pid``."""
        host = socket.gethostname()
        pid = os.getpid()
        chosen = (name or f"{host}-{pid}").strip()
        if not 1 <= len(chosen) <= 128:
            raise InvalidArgumentError(f"name={chosen!r} must be 1-128 characters")
        return cls(name=chosen, host=host[:255], pid=pid, executor=executor, slots=slots)


@dataclass(frozen=True, slots=True)
class Claim:
    """A match a worker holds: it is ``running`` with the worker's id.

    Attributes:
        match_id: The match.
        tournament_id: Its tournament (``None`` for a match of its own).
        claim_ms: How long the claim's transaction took.

    """

    match_id: uuid.UUID
    tournament_id: uuid.UUID | None
    claim_ms: float


def register_worker(session: Session, identity: WorkerIdentity) -> uuid.UUID:
    """Add a worker, ``idle`` with a fresh heartbeat (commits); its id."""
    now = utcnow()
    row = WorkerRow(
        name=identity.name,
        host=identity.host,
        pid=identity.pid,
        executor=identity.executor,
        slots=identity.slots,
        state="idle",
        started_at=now,
        heartbeat_at=now,
    )
    session.add(row)
    session.commit()
    return row.id


def heartbeat(
    session: Session, worker_id: uuid.UUID, *, state: str, in_flight: int, played: int
) -> bool:
    """Say the worker is alive, what it does and what it has played (commits).

    Returns:
        ``False`` when the worker had been reaped (its lease ran out): it is alive
        again, but the matches it held were given back to the queue.

    """
    if state not in WORKER_STATES:
        raise InvalidArgumentError(f"state={state!r} is not one of: {', '.join(WORKER_STATES)}")
    was = session.scalar(select(WorkerRow.state).where(WorkerRow.id == worker_id))
    session.execute(
        update(WorkerRow)
        .where(WorkerRow.id == worker_id)
        .values(
            state=state,
            in_flight=in_flight,
            matches_played=played,
            heartbeat_at=utcnow(),
            stopped_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return was is not None and was != "offline"


def retire_worker(session: Session, worker_id: uuid.UUID, *, played: int) -> None:
    """Mark a worker that exits ``offline`` (commits)."""
    now = utcnow()
    session.execute(
        update(WorkerRow)
        .where(WorkerRow.id == worker_id)
        .values(state="offline", in_flight=0, matches_played=played, stopped_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def workers_on(session: Session, host: str) -> dict[uuid.UUID, int]:
    """The workers not yet offline that registered from ``host``: their process ids."""
    found = session.execute(
        select(WorkerRow.id, WorkerRow.pid).where(
            WorkerRow.host == host, WorkerRow.state != "offline"
        )
    )
    ids = {ident: pid for ident, pid in found}
    session.rollback()
    return ids


def mark_offline(session: Session, worker_ids: list[uuid.UUID]) -> None:
    """Mark workers known to be gone ``offline`` now, without waiting for their lease (commits).

    A worker on the same host whose process no longer exists is gone for sure: the
    next :func:`reap` gives its matches back at once.
    """
    if worker_ids:
        _execute(
            session,
            update(WorkerRow)
            .where(WorkerRow.id.in_(worker_ids), WorkerRow.state != "offline")
            .values(state="offline", in_flight=0, stopped_at=WorkerRow.heartbeat_at),
        )
    session.commit()


def reap(session: Session, lease_s: float = DEFAULT_LEASE_S) -> int:
    """End the leases that ran out; their matches go back to the queue (commits).

    A worker whose heartbeat is older than ``lease_s`` seconds is marked ``offline``.
    The matches it (or no worker at all) held ``running`` are queued again when their
    tournament still runs, or have no tournament; those of a tournament that ended
    meanwhile end ``failed`` as abandoned, since no worker will play them.

    Returns:
        How many matches were queued again.

    """
    now = utcnow()
    cutoff = now - timedelta(seconds=lease_s)
    _execute(
        session,
        update(WorkerRow)
        .where(WorkerRow.state != "offline", WorkerRow.heartbeat_at < cutoff)
        .values(state="offline", in_flight=0, stopped_at=WorkerRow.heartbeat_at),
    )
    alive = select(WorkerRow.id).where(WorkerRow.state != "offline")
    orphaned = and_(
        MatchRow.status == "running",
        or_(MatchRow.worker_id.is_(None), MatchRow.worker_id.not_in(alive)),
    )
    still_running = select(TournamentRow.id).where(TournamentRow.status == "running")
    requeued = _execute(
        session,
        update(MatchRow)
        .where(
            orphaned,
            or_(MatchRow.tournament_id.is_(None), MatchRow.tournament_id.in_(still_running)),
        )
        .values(status="queued", worker_id=None, started_at=None),
    )
    _execute(
        session,
        update(MatchRow)
        .where(orphaned, MatchRow.tournament_id.is_not(None))
        .values(
            status="failed",
            error="abandoned: its tournament ended while the match was being played",
            finished_at=now,
            worker_id=None,
        ),
    )
    session.commit()
    return requeued


def claim_match(
    session: Session,
    worker_id: uuid.UUID,
    *,
    tournament_id: uuid.UUID | None = None,
    match_id: uuid.UUID | None = None,
) -> Claim | None:
    """Take the next queued match for ``worker_id`` (commits); ``None`` when none is free.

    ``tournament_id`` or ``match_id`` narrow the choice to one tournament's matches or
    to one match (a command that plays just that).

    The candidate is the queued match whose tournament (running, not waiting for its
    pace) was served least recently, a match of its own counting from its creation.
    Claiming it updates the tournament first (``served_at``, and ``next_play_at`` when
    it has a pace): that row lock orders the claim against a cancel, and the condition
    on ``next_play_at`` keeps a paced tournament's starts apart across workers.

    The statements are built once (:data:`_CLAIM`) and run at the Core level: a claim
    is on the hot path of every match.
    """
    started = utcnow()
    clock = _perf_ms()
    connection = session.connection()
    found = _candidate(connection, started, tournament_id, match_id)
    if found is None:
        session.rollback()
        return None
    owner, params = found
    if owner is not None and not _serve(connection, owner, params, started):
        session.rollback()  # cancelled, or another worker started its paced match first
        return None
    values = {"claimer": worker_id, "now": started}
    if match_id is not None:
        claimed = connection.execute(_CLAIM.one, {**values, "match": match_id}).scalar()
    elif owner is None:
        claimed = connection.execute(_CLAIM.own, values).scalar()
    else:
        claimed = connection.execute(_CLAIM.of_tournament, {**values, "tournament": owner}).scalar()
    if claimed is None:  # taken meanwhile (on SQLite, by another thread of this worker)
        session.rollback()
        return None
    session.commit()
    return Claim(match_id=claimed, tournament_id=owner, claim_ms=_perf_ms() - clock)


def _next_queued(mine: ColumnElement[bool]) -> ScalarSelect[uuid.UUID]:
    """The oldest queued match among ``mine``, locked, skipping locked ones."""
    return (
        select(MatchRow.id)
        .where(MatchRow.status == "queued", mine)
        .order_by(MatchRow.created_at, MatchRow.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )


def _mark(which: ColumnElement[bool]) -> Update:
    """``UPDATE`` a queued match to ``running`` for ``:claimer``, returning its id."""
    return (
        update(MatchRow)
        .where(which, MatchRow.status == "queued")
        .values(
            status="running",
            worker_id=bindparam("claimer"),
            started_at=bindparam("now"),
            error=None,
        )
        .returning(MatchRow.id)
    )


class _ClaimStatements:
    """The claim's statements, built once at import."""

    def __init__(self) -> None:
        now: BindParameter[datetime] = bindparam("now", type_=UtcDateTime())
        turn = func.coalesce(
            TournamentRow.served_at, TournamentRow.started_at, TournamentRow.created_at
        )
        has_queued = (
            select(MatchRow.id)
            .where(MatchRow.status == "queued", MatchRow.tournament_id == TournamentRow.id)
            .exists()
        )
        self.ready = select(TournamentRow.id, TournamentRow.params, turn).where(
            TournamentRow.status == "running",
            or_(TournamentRow.next_play_at.is_(None), TournamentRow.next_play_at <= now),
            has_queued,
        )
        self.first_tournament = self.ready.order_by(turn, TournamentRow.id).limit(1)
        self.this_tournament = self.ready.where(TournamentRow.id == bindparam("tournament"))
        self.oldest_own = (
            select(MatchRow.created_at)
            .where(MatchRow.status == "queued", MatchRow.tournament_id.is_(None))
            .order_by(MatchRow.created_at)
            .limit(1)
        )
        self.match = select(MatchRow.tournament_id, MatchRow.status).where(
            MatchRow.id == bindparam("match")
        )
        self.serve = (
            update(TournamentRow)
            .where(
                TournamentRow.id == bindparam("tournament"),
                TournamentRow.status == "running",
                or_(TournamentRow.next_play_at.is_(None), TournamentRow.next_play_at <= now),
            )
            .values(served_at=now, next_play_at=bindparam("next_play"))
        )
        self.own = _mark(MatchRow.id == _next_queued(MatchRow.tournament_id.is_(None)))
        self.of_tournament = _mark(
            MatchRow.id == _next_queued(MatchRow.tournament_id == bindparam("tournament"))
        )
        self.one = _mark(MatchRow.id == bindparam("match"))


_CLAIM = _ClaimStatements()


def _candidate(
    connection: Connection,
    now: datetime,
    tournament_id: uuid.UUID | None,
    match_id: uuid.UUID | None,
) -> tuple[uuid.UUID | None, dict[str, Any] | None] | None:
    """Whose turn it is: ``(tournament id or None, its params)``, or ``None`` for no work.

    Two index lookups, never a scan of the queue: the oldest queued match of its own,
    and the least recently served running tournament that has a queued match and is
    not waiting for its pace. The earlier of the two goes first.
    """
    if match_id is not None:
        row = connection.execute(_CLAIM.match, {"match": match_id}).first()
        if row is None or row.status != "queued":
            return None
        if row.tournament_id is None:
            return None, None
        tournament_id = row.tournament_id
    if tournament_id is not None:
        found = connection.execute(
            _CLAIM.this_tournament, {"now": now, "tournament": tournament_id}
        ).first()
        return None if found is None else (found[0], found[1])
    tournament = connection.execute(_CLAIM.first_tournament, {"now": now}).first()
    own = connection.execute(_CLAIM.oldest_own).scalar()
    if tournament is None:
        return None if own is None else (None, None)
    if own is not None and own < tournament[2]:
        return None, None
    return tournament[0], tournament[1]


def _serve(
    connection: Connection,
    tournament_id: uuid.UUID,
    params: dict[str, Any] | None,
    now: datetime,
) -> bool:
    pace = max(0.0, float((params or {}).get("pace_s", 0.0) or 0.0))
    next_play = now + timedelta(seconds=pace) if pace > 0 else None
    served = connection.execute(
        _CLAIM.serve, {"tournament": tournament_id, "now": now, "next_play": next_play}
    )
    return served.rowcount == 1


def _execute(session: Session, statement: Update) -> int:
    result = cast(
        "CursorResult[Any]",
        session.execute(statement.execution_options(synchronize_session=False)),
    )
    return int(result.rowcount or 0)


def _perf_ms() -> float:
    return time.perf_counter() * 1000


__all__ = [
    "DEFAULT_LEASE_S",
    "Claim",
    "WorkerIdentity",
    "claim_match",
    "heartbeat",
    "mark_offline",
    "reap",
    "register_worker",
    "retire_worker",
    "workers_on",
]
