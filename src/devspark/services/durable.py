"""Durable tournaments: their matches are rows, played by whichever worker claims them.

A tournament is a :class:`~devspark.store.models.TournamentRow` whose ``params`` hold
everything needed to rebuild its format (:mod:`devspark.services.tournaments`). Once it
is ``running``, :func:`advance` drives the format: it rebuilds the format from those
params, records the outcome of every finished round (read back from the stored
:class:`~devspark.store.models.MatchResultRow` s, in pairing order) and queues a
:class:`~devspark.store.models.MatchRow` for every pairing of the next round. Workers
claim those rows (:mod:`devspark.services.queue`), play them and store their results
(:func:`devspark.services.playing.play_claimed`), then call :func:`advance` again. When
the format is done, :func:`advance` stores the final standings and marks the tournament
``finished``, in one transaction.

Formats are deterministic given their seed and the recorded outcomes, so any worker
rebuilding a tournament sees the same pairings with the same seeds: a pairing that
already has a row is never queued twice, a finished match is never played again, and a
match whose worker died is queued again by the reaper and played from its spec. The
final standings equal those of an uninterrupted in-memory run
(:func:`devspark.arena.tournament.run_tournament`).

:func:`advance` holds the tournament's row lock (``SELECT ... FOR UPDATE`` on
PostgreSQL) while it writes, so two workers never queue the same round. A worker keeps
the formats it drives in :class:`TournamentBooks`, so a long ladder is replayed from the
database once per worker, not once per match.

The pairing's place in the format is kept in ``MatchRow.options`` (there are no columns
for it): ``{"reset": <scenario reset options>, "pairing": {"round": int, "label": str,
"agents": [seat order]}}``.

A match that cannot be played or stored ends ``failed`` with its reason, and so does
its tournament (:mod:`devspark.services.failures`).

:func:`run_tournament_durably` plays one tournament to its end in the calling thread
with the very same steps (register a worker, advance, claim, play, advance...): what
``devspark tournament run``, the tests and the benchmarks use.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import Executor
from devspark.arena.formats import Pairing, TournamentFormat
from devspark.core.errors import DevSparkError, NotFoundError
from devspark.core.status import MatchStatus, TournamentStatus
from devspark.rating.leaderboard import LeaderRow, build_leaderboards
from devspark.rating.models import OpenSkillRatings
from devspark.rating.outcomes import Outcome
from devspark.scenarios import resolve
from devspark.services.failures import describe, fail_tournament
from devspark.services.playing import NO_PLAYBACK, Playback, Played, outcome_of, play_claimed
from devspark.services.queue import (
    DEFAULT_LEASE_S,
    WorkerIdentity,
    claim_match,
    heartbeat,
    reap,
    register_worker,
    retire_worker,
)
from devspark.services.tournaments import TournamentParams, build, end_queued
from devspark.store.models import (
    MatchResultRow,
    MatchRow,
    RatingSnapshotRow,
    TournamentRow,
    utcnow,
)

logger = logging.getLogger(__name__)

RATING_METHOD = "bradley_terry"
"""The method recorded on the rating snapshots of a finished tournament."""

MatchKey = tuple[int, tuple[str, ...], int]
"""A pairing's identity inside its tournament: (round, agents in seat order, seed)."""

_OPEN = (MatchStatus.QUEUED, MatchStatus.RUNNING)


@dataclass(slots=True)
class _Book:
    """A format being driven: its state after the rounds recorded so far."""

    fmt: TournamentFormat
    ratings: OpenSkillRatings
    outcomes: list[Outcome] = field(default_factory=list)
    open_round: list[Pairing] | None = None
    ids: dict[MatchKey, uuid.UUID] = field(default_factory=dict)
    """Every row of the tournament this book knows, by pairing."""


class TournamentBooks:
    """The formats one process drives, kept between two :func:`advance` calls.

    A book is a cache: when another worker queued rows this one has not seen, the book
    is rebuilt from the database. One lock orders the advances of this process (the
    threads of a worker share its books; on SQLite there are no row locks).
    """

    def __init__(self) -> None:
        self._books: dict[uuid.UUID, _Book] = {}
        self.lock = threading.Lock()

    def get(self, tournament_id: uuid.UUID) -> _Book | None:
        """The book of a tournament, if this process drives it."""
        return self._books.get(tournament_id)

    def put(self, tournament_id: uuid.UUID, book: _Book) -> None:
        """Keep a book."""
        self._books[tournament_id] = book

    def drop(self, tournament_id: uuid.UUID) -> None:
        """Forget a tournament (it ended, or its book may be stale)."""
        self._books.pop(tournament_id, None)

    def __len__(self) -> int:
        return len(self._books)


def advance(
    session: Session, tournament_id: uuid.UUID, books: TournamentBooks | None = None
) -> str:
    """Record what finished, queue the next round, or finish the tournament (commits).

    Safe to call from any worker at any time: it does nothing for a tournament that is
    not running or whose current round is still being played.

    Args:
        session: A session of its own (it is committed or rolled back here).
        tournament_id: The tournament.
        books: The formats this process drives (``None``: rebuild from the database).

    Returns:
        The tournament's status afterwards (``running``, ``finished``, ``failed``,
        ``cancelled``; ``created`` when it has not been started).

    Raises:
        NotFoundError: No such tournament.

    """
    books = books if books is not None else TournamentBooks()  # an empty one is falsy
    with books.lock:
        try:
            return _advance(session, tournament_id, books)
        except BaseException:
            session.rollback()
            books.drop(tournament_id)
            raise


def _advance(session: Session, tournament_id: uuid.UUID, books: TournamentBooks) -> str:
    tournament = session.scalar(
        select(TournamentRow).where(TournamentRow.id == tournament_id).with_for_update()
    )
    if tournament is None:
        session.rollback()
        raise NotFoundError(f"tournament {tournament_id} does not exist")
    if tournament.status != TournamentStatus.RUNNING:
        if tournament.status == TournamentStatus.CANCELLED:
            end_queued(session, tournament_id)  # rows queued just before the cancel
        status = tournament.status
        session.commit()
        books.drop(tournament_id)
        return status
    rows = _rows(session, tournament_id)
    book = books.get(tournament_id)
    stored: dict[uuid.UUID, Outcome] = {}
    try:
        params = TournamentParams.from_json(tournament.params)
        if book is None or len(book.ids) != len(rows):  # new here, or another worker went on
            ratings = OpenSkillRatings()
            fmt = build(tournament.format, params, tournament.seed, ratings)
            book = _Book(fmt=fmt, ratings=ratings)
    except (DevSparkError, KeyError, TypeError, ValueError) as exc:
        # Stored parameters that no longer make a format (an unknown format or scenario
        # after an upgrade) would fail the same way every time: the tournament fails.
        fail_tournament(session, tournament_id, f"its format cannot be rebuilt: {describe(exc)}")
        books.drop(tournament_id)
        return TournamentStatus.FAILED
    if books.get(tournament_id) is not book:
        books.put(tournament_id, book)
        finished = [ident for ident, status, _ in rows.values() if status == MatchStatus.FINISHED]
        stored = dict(
            zip(finished, _outcomes(session, finished, tournament.scenario_id), strict=True)
        )
    book.ids = {key: ident for key, (ident, _status, _error) in rows.items()}
    while True:
        if book.open_round is None:
            pairings = [] if book.fmt.done else book.fmt.next_round()
            book.open_round = [p for p in pairings if len(p.agents) >= 2]
            if not book.open_round:
                return _finish(session, tournament, params, book, books)
        missing = [p for p in book.open_round if _pairing_key(p) not in rows]
        for pairing in missing:
            row = _queue(tournament, params, pairing)
            session.add(row)
            session.flush()
            rows[_pairing_key(pairing)] = (row.id, MatchStatus.QUEUED, None)
            book.ids[_pairing_key(pairing)] = row.id
        if missing and not _still_running(session, tournament_id):
            # SQLite has no row lock: a cancel committed after the status was read. Now
            # that this transaction writes, it sees the cancel; the round is not queued.
            session.rollback()
            books.drop(tournament_id)
            return _advance(session, tournament_id, books)
        states = [rows[_pairing_key(p)] for p in book.open_round]
        failed = next((state for state in states if state[1] == MatchStatus.FAILED), None)
        if failed is not None:
            reason = f"match {failed[0]} failed: {failed[2] or 'no reason stored'}"
            fail_tournament(session, tournament_id, reason)
            books.drop(tournament_id)
            return TournamentStatus.FAILED
        if any(state[1] != MatchStatus.FINISHED for state in states):
            session.commit()  # the round is being played
            return TournamentStatus.RUNNING
        ids = [state[0] for state in states]
        outcomes = (
            [stored[ident] for ident in ids]
            if all(ident in stored for ident in ids)  # a rebuild read them all at once
            else _outcomes(session, ids, tournament.scenario_id)
        )
        for pairing, outcome in zip(book.open_round, outcomes, strict=True):
            book.fmt.record(pairing, outcome)
            book.ratings.update(outcome)
            book.outcomes.append(outcome)
        book.open_round = None


def _still_running(session: Session, tournament_id: uuid.UUID) -> bool:
    status = session.scalar(select(TournamentRow.status).where(TournamentRow.id == tournament_id))
    return status == TournamentStatus.RUNNING


def _rows(
    session: Session, tournament_id: uuid.UUID
) -> dict[MatchKey, tuple[uuid.UUID, str, str | None]]:
    found = session.execute(
        select(MatchRow.id, MatchRow.options, MatchRow.seed, MatchRow.status, MatchRow.error)
        .where(MatchRow.tournament_id == tournament_id)
        .order_by(MatchRow.created_at)
    )
    return {
        _row_key(options, seed): (ident, status, error)
        for ident, options, seed, status, error in found
    }


def _outcomes(session: Session, match_ids: list[uuid.UUID], scenario: str) -> list[Outcome]:
    """The stored outcomes of finished matches, in the order of ``match_ids``."""
    seats: dict[uuid.UUID, list[MatchResultRow]] = {ident: [] for ident in match_ids}
    for result in session.scalars(
        select(MatchResultRow)
        .where(MatchResultRow.match_id.in_(match_ids))
        .order_by(MatchResultRow.match_id, MatchResultRow.seat)
    ):
        seats[result.match_id].append(result)
    return [outcome_of(seats[ident], scenario) for ident in match_ids]


def _queue(tournament: TournamentRow, params: TournamentParams, pairing: Pairing) -> MatchRow:
    return MatchRow(
        scenario_id=tournament.scenario_id,
        seed=pairing.seed,
        options={
            "reset": dict(params.options or {}),
            "pairing": {
                "round": pairing.round,
                "label": pairing.label,
                "agents": list(pairing.agents),
            },
        },
        isolation=params.isolation.value,
        status=MatchStatus.QUEUED,
        tournament_id=tournament.id,
    )


def _finish(
    session: Session,
    tournament: TournamentRow,
    params: TournamentParams,
    book: _Book,
    books: TournamentBooks,
) -> str:
    """Store the final standings and mark the tournament finished (one transaction)."""
    cls = resolve(tournament.scenario_id)
    standings: list[LeaderRow] = []
    if book.outcomes:
        boards = build_leaderboards(
            book.outcomes,
            {cls.full_id: tuple(cls.domains)},
            bootstrap=params.bootstrap,
            seed=tournament.seed,
        )
        standings = boards.by_scenario[cls.full_id]
    taken_at = utcnow()
    for line in standings:
        session.add(
            RatingSnapshotRow(
                tournament_id=tournament.id,
                scenario_id=tournament.scenario_id,
                agent_ref=line.agent,
                method=RATING_METHOD,
                rating=line.rating,
                lower=line.lower,
                upper=line.upper,
                rank=line.rank,
                matches=line.matches,
                taken_at=taken_at,
            )
        )
    # Finished only if still running: on PostgreSQL the row lock kept a cancel out; on
    # SQLite (no row locks) a cancel committed during the fit wins, and nothing is kept.
    marked = session.execute(
        update(TournamentRow)
        .where(TournamentRow.id == tournament.id, TournamentRow.status == TournamentStatus.RUNNING)
        .values(status=TournamentStatus.FINISHED, finished_at=taken_at)
        .execution_options(synchronize_session=False)
    )
    books.drop(tournament.id)
    if getattr(marked, "rowcount", 1) != 1:
        session.rollback()
        status = session.scalar(
            select(TournamentRow.status).where(TournamentRow.id == tournament.id)
        )
        session.commit()
        return str(status)
    session.commit()
    return TournamentStatus.FINISHED


def needing_advance(session: Session, limit: int = 100) -> list[uuid.UUID]:
    """Running tournaments with no match queued or running: their next round is due.

    A worker looks for these when idle: a tournament just started, or one whose last
    match's worker died before it advanced it.
    """
    open_rows = (
        select(MatchRow.id)
        .where(MatchRow.tournament_id == TournamentRow.id, MatchRow.status.in_(_OPEN))
        .exists()
    )
    found = list(
        session.scalars(
            select(TournamentRow.id)
            .where(TournamentRow.status == TournamentStatus.RUNNING, ~open_rows)
            .order_by(TournamentRow.created_at, TournamentRow.id)
            .limit(limit)
        )
    )
    session.rollback()
    return found


def cancelled_with_queued(session: Session, limit: int = 100) -> list[uuid.UUID]:
    """Cancelled tournaments that still have queued matches (queued just before the cancel)."""
    queued = (
        select(MatchRow.id)
        .where(MatchRow.tournament_id == TournamentRow.id, MatchRow.status == MatchStatus.QUEUED)
        .exists()
    )
    found = list(
        session.scalars(
            select(TournamentRow.id)
            .where(TournamentRow.status == TournamentStatus.CANCELLED, queued)
            .limit(limit)
        )
    )
    session.rollback()
    return found


def run_tournament_durably(
    session_factory: sessionmaker[Session],
    tournament_id: uuid.UUID,
    executor: Executor,
    playback: Playback = NO_PLAYBACK,
    *,
    max_matches: int | None = None,
    worker: WorkerIdentity | None = None,
    lease_s: float = DEFAULT_LEASE_S,
    on_played: Callable[[Played], None] | None = None,
) -> str:
    """Play (or resume) a tournament in this thread, committing every match.

    The same steps a worker takes, for one tournament: a ``created`` tournament is
    started, then :func:`advance` queues a round, each of its matches is claimed
    (:func:`~devspark.services.queue.claim_match`), played and stored
    (:func:`~devspark.services.playing.play_claimed`), and so on. Safe to call again
    after the process running it was killed: finished matches are recorded from the
    database, and the matches the dead process held go back to the queue when its
    lease runs out (:func:`~devspark.services.queue.reap`).

    Args:
        session_factory: Sessions on the tournament's database.
        tournament_id: The tournament.
        executor: Plays the matches.
        playback: Agent staging and replay storage.
        max_matches: Return after playing this many matches (``None``: to the end).
        worker: Who plays, as shown in the workers list (default: this process).
        lease_s: How long a silent worker keeps its claims; when nothing is free, the
            claims of workers silent for longer are given back and played here.
        on_played: Called after each match this thread stored, finished or failed
            (progress bars); not for a match whose claim was lost.

    Returns:
        The tournament's status afterwards: ``"finished"``, ``"cancelled"``,
        ``"failed"``, or ``"running"`` when ``max_matches`` ran out first.

    Raises:
        NotFoundError: No such tournament.

    """
    books = TournamentBooks()
    with session_factory() as session:
        row = session.get(TournamentRow, tournament_id)
        if row is None:
            raise NotFoundError(f"tournament {tournament_id} does not exist")
        if row.status == TournamentStatus.CREATED:
            session.execute(
                update(TournamentRow)
                .where(
                    TournamentRow.id == tournament_id,
                    TournamentRow.status == TournamentStatus.CREATED,
                )
                .values(status=TournamentStatus.RUNNING, started_at=utcnow())
            )
            session.commit()
        worker_id = register_worker(session, worker or WorkerIdentity.here("tournament"))
    played = 0
    try:
        while True:
            with session_factory() as session:
                status = advance(session, tournament_id, books)
            if status != TournamentStatus.RUNNING:
                return status
            if max_matches is not None and played >= max_matches:
                return status
            with session_factory() as session:
                heartbeat(session, worker_id, state="busy", in_flight=0, played=played)
                claim = claim_match(session, worker_id, tournament_id=tournament_id)
            if claim is None:
                with session_factory() as session:
                    if _still_open(session, tournament_id) and not reap(session, lease_s):
                        _wait_for_pace(session, tournament_id)
                continue
            done = play_claimed(session_factory, claim.match_id, worker_id, executor, playback)
            if done.result:
                played += 1
            if on_played is not None and not done.lost:
                on_played(done)
    finally:
        with session_factory() as session:
            retire_worker(session, worker_id, played=played)


def _still_open(session: Session, tournament_id: uuid.UUID) -> bool:
    count = session.scalar(
        select(func.count(MatchRow.id)).where(
            MatchRow.tournament_id == tournament_id, MatchRow.status.in_(_OPEN)
        )
    )
    session.rollback()
    return bool(count)


def _wait_for_pace(session: Session, tournament_id: uuid.UUID) -> None:
    """Wait (at most a second) for a paced tournament's next start or a lease to run out."""
    at = session.scalar(select(TournamentRow.next_play_at).where(TournamentRow.id == tournament_id))
    session.rollback()
    delay = 0.05 if at is None else min(1.0, max(0.0, (at - utcnow()).total_seconds()))
    threading.Event().wait(delay)


def _pairing_key(pairing: Pairing) -> MatchKey:
    return (pairing.round, tuple(pairing.agents), pairing.seed)


def _row_key(options: dict[str, object], seed: int) -> MatchKey:
    pairing = options["pairing"]
    assert isinstance(pairing, dict)
    return (int(pairing["round"]), tuple(pairing["agents"]), seed)


__all__ = [
    "RATING_METHOD",
    "TournamentBooks",
    "advance",
    "cancelled_with_queued",
    "needing_advance",
    "run_tournament_durably",
]
