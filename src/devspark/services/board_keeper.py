"""The board keeper: platform boards refitted in the background from kept aggregates.

Storing a match adds its counts to ``board_pairs`` and ``board_records`` and leaves it in
``board_inbox`` (:mod:`devspark.services.boards`). A :class:`BoardKeeper` thread in the
server then, at most every ``interval_s`` seconds while matches arrive:

1. takes the inbox in finishing order, adds the counts to its copy of the aggregates in
   memory, and rates each match with OpenSkill on each of its boards (the global
   board's ratings make the rating history), writing the new ratings and history and
   removing the inbox rows in one transaction;
2. refits every board that changed: a Bradley-Terry fit over the board's pair counts,
   warm-started from the last one (:func:`~devspark.rating.counts.fit_pair_counts`);
   the intervals come from a Poisson bootstrap of the counts. A board keeps its
   resamples as deviations from the estimate they were drawn around; each refresh
   renews the oldest ``bootstrap_chunk`` of them with draws on the current counts, for
   the boards renewed longest ago, within ``bootstrap_budget_s`` (one chunk at least),
   so the whole set turns over every few refreshes at a bounded cost per refresh. A
   board with agents its resamples lack draws them all again;
3. writes each method's boards as one JSON document to ``platform_boards``.

Reads never wait: they serve the last document (:meth:`BoardKeeper.read`). One keeper
across processes keeps the boards: a lease in ``board_state`` names it, renewed at each
refresh; the others serve what it writes, and take over when its lease runs out. A
keeper that lost its lease reloads the aggregates before it keeps boards again.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from devspark.rating.counts import CountsFit, fit_pair_counts, rows_from_fit
from devspark.rating.leaderboard import (
    METHODS,
    efficiency_rows,
    leader_rows,
)
from devspark.rating.outcomes import Outcome
from devspark.services.board_memory import MemoryBoard, Served, compress, thin
from devspark.services.board_writes import insert_for, write_ratings
from devspark.services.boards import (
    DOMAIN_PREFIX,
    GLOBAL,
    SCENARIO_PREFIX,
    Seat,
    Tally,
    add_counts,
    empty_boards,
    tally,
)
from devspark.store.models import (
    BoardHistoryRow,
    BoardInboxRow,
    BoardPairRow,
    BoardRecordRow,
    BoardSkillRow,
    BoardStateRow,
    MatchResultRow,
    MatchRow,
    PlatformBoardRow,
    utcnow,
)

logger = logging.getLogger(__name__)

HISTORY_POINTS: Final = 200
"""The most rating-history points served per agent (evenly thinned, last one kept)."""

HISTORY_TOTAL: Final = 20_000
"""The most history points served in all: with many agents each gets fewer (20 at least)."""

HISTORY_KEPT: Final = 2 * HISTORY_POINTS
"""Stored points per agent: beyond it each new point drops an old one, sweeping through
the history dropping every other point (the first and the last kept), so the points stay
spread over the agent's whole career."""

DEFAULT_BOOTSTRAP: Final = 100
"""Poisson resamples behind each board's intervals."""

DEFAULT_INTERVAL_S: Final = 2.0
"""Seconds between refreshes while matches arrive."""

DEFAULT_BOOTSTRAP_BUDGET_S: Final = 0.3
"""Seconds a refresh spends renewing resamples, oldest board first (one chunk at least)."""

DEFAULT_BOOTSTRAP_CHUNK: Final = 20
"""Resamples a board renews at a time (its oldest ones, with draws on today's counts)."""

LEASE_S: Final = 15.0
"""How long a keeper's lease lasts without a refresh renewing it."""

INBOX_BATCH: Final = 5_000
"""Matches taken from the inbox per transaction."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class RefreshStats:
    """What one refresh did.

    Attributes:
        leader: Whether this keeper held the lease (a follower does nothing else).
        matches_applied: Matches taken from the inbox.
        rated: Matches rated in all, after the refresh.
        boards: Boards refitted.
        bootstrapped: Boards whose intervals were re-bootstrapped.
        seconds: Wall time of the whole refresh.
        fit_s: Wall time of the fits.
        loaded: Whether the aggregates were (re)loaded from the database first.

    """

    leader: bool
    matches_applied: int = 0
    rated: int = 0
    boards: int = 0
    bootstrapped: int = 0
    seconds: float = 0.0
    fit_s: float = 0.0
    loaded: bool = False


class BoardKeeper:
    """Keeps the platform boards (thread-safe; one background thread when started).

    Args:
        factory: Opens database sessions.
        bootstrap: Poisson resamples behind each board's intervals (0: none).
        interval_s: Seconds between refreshes.
        bootstrap_budget_s: Seconds a refresh spends renewing resamples.
        bootstrap_chunk: Resamples a board renews at a time.
        lease_s: How long the keeper's lease lasts without renewal.
        confidence: Coverage of the intervals.
        clock: Monotonic clock (tests substitute one).

    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        bootstrap: int = DEFAULT_BOOTSTRAP,
        interval_s: float = DEFAULT_INTERVAL_S,
        bootstrap_budget_s: float = DEFAULT_BOOTSTRAP_BUDGET_S,
        bootstrap_chunk: int = DEFAULT_BOOTSTRAP_CHUNK,
        lease_s: float = LEASE_S,
        confidence: float = 0.95,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self.bootstrap = bootstrap
        self.interval_s = interval_s
        self.bootstrap_budget_s = bootstrap_budget_s
        self.bootstrap_chunk = bootstrap_chunk
        self.lease_s = lease_s
        self.confidence = confidence
        self._clock = clock
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()  # one refresh at a time
        self._built = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._boards: dict[str, MemoryBoard] = {}
        self._history: dict[str, list[tuple[int, float, float]]] = {}
        self._rated = 0
        self._counted: set[uuid.UUID] = set()
        self._sweep: dict[str, int] = {}  # where each agent's history is thinned next
        self._loaded = False
        self._built_rated = -1
        self._served: dict[str, Served] = {}
        self.last: RefreshStats | None = None

    # ------------------------------------------------------------------ reads

    def read(self, session: Session, method: str) -> str:
        """The latest boards of ``method`` as JSON: never waits for a fit.

        Raises:
            ValueError: ``method`` is not one of :data:`~devspark.rating.leaderboard.METHODS`.

        """
        return self.served(session, method).body

    def served(self, session: Session, method: str) -> Served:
        """The latest boards of ``method`` as served: never waits for a fit.

        Serves what this keeper built, or what the keeper holding the lease stored
        (read again only when its ``built_at`` moved).

        Raises:
            ValueError: ``method`` is not one of :data:`~devspark.rating.leaderboard.METHODS`.

        """
        if method not in METHODS:
            raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
        built_at = session.scalar(
            select(PlatformBoardRow.built_at).where(PlatformBoardRow.method == method)
        )
        served = self._served.get(method)
        if built_at is None:
            return Served(method, None, body=empty_boards(method)) if served is None else served
        if served is not None and served.built_at is not None and served.built_at >= built_at:
            return served
        gz = session.scalar(
            select(PlatformBoardRow.body_gz).where(PlatformBoardRow.method == method)
        )
        if gz is None:
            return Served(method, None, body=empty_boards(method))
        served = self._served[method] = Served(method, built_at, gz=gz)
        return served

    # --------------------------------------------------------------- thread

    def start(self) -> None:
        """Refresh in a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="board-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (waits for a refresh under way)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def nudge(self) -> None:
        """Refresh now rather than at the next interval."""
        self._wake.set()

    def wait_for(self, matches: int, timeout_s: float) -> bool:
        """Wait until this keeper has built boards over at least ``matches`` rated matches.

        Returns:
            Whether it did within ``timeout_s``.

        """
        deadline = time.monotonic() + timeout_s
        with self._built:
            while self._built_rated < matches:
                self._wake.set()
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._built.wait(min(left, 0.5))
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # a failed refresh is retried at the next interval
                logger.exception("board refresh failed")
                self._loaded = False
            self._wake.wait(self.interval_s)
            self._wake.clear()

    # -------------------------------------------------------------- refresh

    def refresh(self) -> RefreshStats:
        """Take in the new matches and, if any, refit and store the boards."""
        with self._lock:
            started = time.perf_counter()
            try:
                applied, loaded, leader = self._take_inbox()
            except Exception:
                self._loaded = False
                raise
            if not leader:
                self._loaded = False
                stats = RefreshStats(leader=False, seconds=time.perf_counter() - started)
                self.last = stats
                return stats
            fitted = bootstrapped = 0
            fit_s = 0.0
            if applied or loaded or self._built_rated < 0:
                fit_started = time.perf_counter()
                fitted, bootstrapped = self._fit()
                fit_s = time.perf_counter() - fit_started
                self._store()
            stats = RefreshStats(
                leader=True,
                matches_applied=applied,
                rated=self._rated,
                boards=fitted,
                bootstrapped=bootstrapped,
                seconds=time.perf_counter() - started,
                fit_s=fit_s,
                loaded=loaded,
            )
            self.last = stats
            if applied:
                logger.info(
                    "boards refreshed: %d new matches, %d boards in %.3f s",
                    applied,
                    fitted,
                    stats.seconds,
                )
            return stats

    def _claim(self, session: Session) -> bool:
        """Take or renew the lease (the transaction's first write)."""
        now = utcnow()
        claimed = session.execute(
            update(BoardStateRow)
            .where(
                BoardStateRow.id == 1,
                or_(
                    BoardStateRow.leader.is_(None),
                    BoardStateRow.leader == self.name,
                    BoardStateRow.lease_until < now,
                ),
            )
            .values(leader=self.name, lease_until=now + timedelta(seconds=self.lease_s))
            .execution_options(synchronize_session=False)
        )
        return getattr(claimed, "rowcount", 0) == 1

    def _session(self, *, snapshot: bool) -> Session:
        """A session; with ``snapshot`` its reads share one snapshot.

        A load must read the aggregates and the inbox as of one moment, so that it
        knows which inbox matches the counts it read hold already. PostgreSQL gets
        ``REPEATABLE READ``; on SQLite the lease update that opens every transaction
        takes the write lock, so nothing commits until the load is done.
        """
        session = self._factory()
        if snapshot and session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return session

    def _take_inbox(self) -> tuple[int, bool, bool]:
        """Load the aggregates if needed, then apply the inbox.

        Returns:
            (matches applied, whether the aggregates were loaded, whether this keeper
            holds the lease).

        """
        loaded = False
        if not self._loaded:
            with self._session(snapshot=True) as session:
                if not self._claimed(session):
                    return 0, False, False
                self._load(session)
                session.commit()
            loaded = True
        applied = 0
        deadline = time.perf_counter() + 5.0
        while True:
            with self._session(snapshot=False) as session:
                if not self._claimed(session):
                    return applied, loaded, False
                taken = self._apply(session)
                session.commit()
            applied += taken
            if taken < INBOX_BATCH or time.perf_counter() > deadline:
                return applied, loaded, True

    def _claimed(self, session: Session) -> bool:
        """Whether this keeper holds the lease, taking or renewing it."""
        try:
            if self._claim(session):
                return True
        except DBAPIError:  # another keeper renewed its lease meanwhile
            pass
        session.rollback()
        return False

    def _load(self, session: Session) -> None:
        """Read the kept aggregates, ratings and history into memory."""
        boards: dict[str, MemoryBoard] = {}

        def board(key: str) -> MemoryBoard:
            found = boards.get(key)
            if found is None:
                found = boards[key] = MemoryBoard(key)
            return found

        for key, a, b, wins, losses, draws in session.execute(
            select(
                BoardPairRow.board,
                BoardPairRow.agent_a,
                BoardPairRow.agent_b,
                BoardPairRow.wins,
                BoardPairRow.losses,
                BoardPairRow.draws,
            )
        ):
            board(key).add_pair(a, b, wins, losses, draws)
        for record in session.scalars(select(BoardRecordRow)):
            board(record.board).add_record(
                record.agent,
                record.status,
                (
                    record.matches,
                    record.wins,
                    record.draws,
                    record.losses,
                    record.cpu_s,
                    record.moves,
                ),
            )
        for skill in session.scalars(select(BoardSkillRow)):
            board(skill.board).skill.restore(skill.agent, skill.mu, skill.sigma, skill.matches)
        history: dict[str, list[tuple[int, float, float]]] = {}
        for point in session.scalars(
            select(BoardHistoryRow).order_by(BoardHistoryRow.agent, BoardHistoryRow.seq)
        ):
            history.setdefault(point.agent, []).append((point.seq, point.mu, point.sigma))
        rated = session.scalar(select(BoardStateRow.rated).where(BoardStateRow.id == 1))
        self._counted = set(
            session.scalars(select(BoardInboxRow.match_id).where(BoardInboxRow.counted.is_(True)))
        )
        self._boards = boards
        self._history = history
        self._rated = int(rated or 0)
        self._loaded = True

    def _apply(self, session: Session) -> int:
        """Rate the oldest inbox matches; count them too where memory lacks them.

        A match stored after the aggregates were loaded has its counts in the database
        only: they are added to memory. A match from before the boards kept counts
        (``counted`` false) is counted in both. The ones the load saw counted are in
        memory already.

        Returns:
            Matches taken from the inbox.

        """
        inbox = session.execute(
            select(BoardInboxRow.match_id, BoardInboxRow.counted)
            .order_by(BoardInboxRow.finished_at, BoardInboxRow.match_id)
            .limit(INBOX_BATCH)
        ).all()
        if not inbox:
            return 0
        ids = [match_id for match_id, _ in inbox]
        scenarios: dict[uuid.UUID, str] = {}
        seats: dict[uuid.UUID, list[Seat]] = {match_id: [] for match_id in ids}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for match_id, scenario_id in session.execute(
                select(MatchRow.id, MatchRow.scenario_id).where(MatchRow.id.in_(chunk))
            ):
                scenarios[match_id] = scenario_id
            for result in session.scalars(
                select(MatchResultRow)
                .where(MatchResultRow.match_id.in_(chunk))
                .order_by(MatchResultRow.match_id, MatchResultRow.seat)
            ):
                seats[result.match_id].append(Seat.of(result))
        uncounted: list[Tally] = []
        touched: set[tuple[str, str]] = set()
        points: list[tuple[str, int, float, float]] = []
        dropped: list[tuple[str, int]] = []
        for match_id, counted in inbox:
            rated = tally(scenarios[match_id], seats[match_id])
            if rated is None:
                continue
            if not counted:
                uncounted.append(rated)
            if match_id in self._counted:
                self._counted.discard(match_id)
            else:
                self._count(rated)
            self._rated += 1
            outcome = Outcome(agents=rated.agents, scores=rated.scores)
            for key in rated.boards:
                board = self._boards.get(key)
                if board is None:
                    board = self._boards[key] = MemoryBoard(key)
                board.skill.update(outcome)
                board.dirty = True
                touched.update((key, agent) for agent in rated.agents)
            ratings = self._boards[GLOBAL].skill
            for agent in rated.agents:
                mu, sigma = ratings.estimate(agent)
                line = self._history.setdefault(agent, [])
                line.append((self._rated, mu, sigma))
                points.append((agent, self._rated, mu, sigma))
                if len(line) > HISTORY_KEPT:
                    # One point out for each point in: a sweep that drops every other
                    # point, first and last kept, so no refresh deletes hundreds at once.
                    at = self._sweep.get(agent, 1)
                    if at >= len(line) - 1:
                        at = 1
                    dropped.append((agent, line.pop(at)[0]))
                    self._sweep[agent] = at + 1
        if uncounted:
            add_counts(session, uncounted)
        self._write_ratings(session, touched, points, dropped)
        session.execute(
            update(BoardStateRow)
            .where(BoardStateRow.id == 1)
            .values(rated=self._rated)
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(BoardInboxRow).where(BoardInboxRow.match_id.in_(ids)))
        return len(inbox)

    def _count(self, rated: Tally) -> None:
        for key in rated.boards:
            board = self._boards.get(key)
            if board is None:
                board = self._boards[key] = MemoryBoard(key)
            for a, b, wins, losses, draws in rated.pairs:
                board.add_pair(a, b, wins, losses, draws)
            for agent, status, wins, draws, losses, cpu_s, moves in rated.records:
                board.add_record(agent, status, (1, wins, draws, losses, cpu_s, moves))

    def _write_ratings(
        self,
        session: Session,
        touched: set[tuple[str, str]],
        points: list[tuple[str, int, float, float]],
        dropped: list[tuple[str, int]],
    ) -> None:
        rows = []
        for key, agent in sorted(touched):
            skill = self._boards[key].skill
            mu, sigma = skill.estimate(agent)
            rows.append(
                {
                    "board": key,
                    "agent": agent,
                    "mu": mu,
                    "sigma": sigma,
                    "matches": skill.matches(agent),
                }
            )
        dropped_keys = set(dropped)
        kept = [
            {"agent": agent, "seq": seq, "mu": mu, "sigma": sigma}
            for agent, seq, mu, sigma in points
            if (agent, seq) not in dropped_keys
        ]
        gone = [{"agent": agent, "seq": seq} for agent, seq in dropped]
        write_ratings(session, rows, kept, gone)

    # ------------------------------------------------------------------ fit

    def _fit(self) -> tuple[int, int]:
        """Refit the boards that changed; returns (boards fitted, boards bootstrapped)."""
        dirty = [board for board in self._boards.values() if board.dirty and board.pairs.size]
        dirty.sort(key=lambda board: board.bootstrapped_at)
        budget_end = time.perf_counter() + self.bootstrap_budget_s
        bootstrapped = 0
        for board in dirty:
            n = len(board.agents)
            start = np.zeros(n)
            start[: len(board.theta)] = board.theta
            counts = board.pairs.counts()
            if self.bootstrap and (board.deviation is None or board.deviation.shape[1] != n):
                # No resamples yet, or agents they lack: all of them, whatever the budget.
                board.bootstraps += 1
                fit = fit_pair_counts(
                    counts, n, bootstrap=self.bootstrap, seed=board.bootstraps, start=start
                )
                board.deviation = fit.samples - fit.theta
                board.renewed = 0
                board.bootstrapped_at = self._clock()
                bootstrapped += 1
            elif self.bootstrap and (
                bootstrapped == 0 or time.perf_counter() + board.chunk_s <= budget_end
            ):
                # Renew the oldest chunk of resamples with fresh draws on today's counts
                # (when the last chunk's time says it fits in the budget).
                size = min(self.bootstrap_chunk, self.bootstrap)
                board.bootstraps += 1
                began = time.perf_counter()
                fit = fit_pair_counts(counts, n, bootstrap=size, seed=board.bootstraps, start=start)
                board.chunk_s = time.perf_counter() - began
                assert board.deviation is not None
                rows = (board.renewed + np.arange(size)) % self.bootstrap
                board.deviation[rows] = fit.samples - fit.theta
                board.renewed = int((board.renewed + size) % self.bootstrap)
                board.bootstrapped_at = self._clock()
                bootstrapped += 1
            else:
                fit = fit_pair_counts(counts, n, bootstrap=0, start=start)
            if not np.isfinite(fit.theta).all():  # never publish a broken fit
                logger.error(
                    "board %s: the fit gave non-finite strengths; kept the last", board.key
                )
                board.deviation = None
                continue
            board.theta = fit.theta
            samples = (
                fit.theta + board.deviation if board.deviation is not None else np.zeros((0, n))
            )
            finite = np.isfinite(samples).all(axis=1)
            if not finite.all():
                logger.warning(
                    "board %s: %d non-finite resamples left out of the intervals",
                    board.key,
                    int((~finite).sum()),
                )
                samples = samples[finite]
            records = {agent: board.record(agent) for agent in board.agents}
            table = rows_from_fit(
                board.agents,
                CountsFit(theta=fit.theta, samples=samples),
                [records[agent][0] for agent in board.agents],
                confidence=self.confidence,
            )
            board.rows["bradley_terry"] = leader_rows(
                table, {agent: record for agent, (_, record) in records.items()}
            )
            board.rows["openskill"] = leader_rows(
                board.skill.table(), {agent: record for agent, (_, record) in records.items()}
            )
            board.dirty = False
        return len(dirty), bootstrapped

    def _document(self, method: str, built_at: datetime) -> dict[str, Any]:
        if not self._rated:
            empty: dict[str, Any] = json.loads(empty_boards(method))
            return empty
        global_ = self._boards[GLOBAL].rows.get(method, []) if GLOBAL in self._boards else []
        by_scenario = {}
        by_domain = {}
        for key, board in sorted(self._boards.items()):
            if method not in board.rows:  # never fitted yet
                continue
            if key.startswith(SCENARIO_PREFIX):
                by_scenario[key[len(SCENARIO_PREFIX) :]] = board.rows[method]
            elif key.startswith(DOMAIN_PREFIX):
                by_domain[key[len(DOMAIN_PREFIX) :]] = board.rows[method]
        keep = max(20, min(HISTORY_POINTS, HISTORY_TOTAL // max(1, len(self._history))))
        return {
            "method": method,
            "global": [row.to_json() for row in global_],
            "by_scenario": {k: [r.to_json() for r in v] for k, v in by_scenario.items()},
            "by_domain": {k: [r.to_json() for r in v] for k, v in by_domain.items()},
            "efficiency": [row.to_json() for row in efficiency_rows(global_)],
            "history": {
                agent: [list(point) for point in thin(points, keep)]
                for agent, points in sorted(self._history.items())
            },
            "matches": self._rated,
            "built_at": built_at.isoformat().replace("+00:00", "Z"),
        }

    def _store(self) -> None:
        built_at = utcnow()
        bodies = {}
        for method in METHODS:
            body = json.dumps(self._document(method, built_at), separators=(",", ":"))
            bodies[method] = (body, compress(body))
        with self._factory() as session:
            if not self._claimed(session):
                self._loaded = False
                return
            upsert = insert_for(session.get_bind().dialect.name, PlatformBoardRow)
            new = upsert.excluded
            session.execute(
                upsert.values(
                    [
                        {"method": m, "body_gz": gz, "matches": self._rated, "built_at": built_at}
                        for m, (_, gz) in bodies.items()
                    ]
                ).on_conflict_do_update(
                    index_elements=["method"],
                    set_={"body_gz": new.body_gz, "matches": new.matches, "built_at": new.built_at},
                )
            )
            session.commit()
        for method, (body, gz) in bodies.items():
            self._served[method] = Served(method, built_at, body=body, gz=gz)
        with self._built:
            self._built_rated = self._rated
            self._built.notify_all()


__all__ = [
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_BOOTSTRAP_BUDGET_S",
    "DEFAULT_BOOTSTRAP_CHUNK",
    "DEFAULT_INTERVAL_S",
    "HISTORY_POINTS",
    "BoardKeeper",
    "RefreshStats",
    "Served",
]
