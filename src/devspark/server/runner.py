"""The server's background runner: one thread, one executor, a queue of work.

:class:`TournamentRunner` takes tournaments and matches of their own from a queue and
plays each with :func:`devspark.services.durable.run_tournament_durably` or
:func:`~devspark.services.durable.run_match_durably`, one at a time. On
:meth:`~TournamentRunner.start` it re-enqueues every tournament whose status is
``"running"`` and every match of its own that never finished: a server killed
mid-tournament resumes it on its next start, with no finished match lost and none
played twice (the durable runner's guarantee).

Work that fails while playing (a match that cannot be played or stored, a tournament
whose format cannot be rebuilt) ends ``failed`` with its reason stored in ``error``
(:mod:`devspark.services.failures`) and is not tried again; only a runner that is
stopping leaves work queued. On taking over the database it also ends the matches an
older process left ``running`` in tournaments that no longer run.

With a :class:`~devspark.services.durable.Playback` it stages uploaded agents and
stores each match's replay.

:meth:`~TournamentRunner.stop` lets the match in progress finish, then stops before the
next one: the tournament stays ``"running"`` in the database and is resumed by the next
start, exactly as after a crash.

Work is played in slices: a tournament plays at most ``slice_matches`` matches (one when
it has a pace), then goes to the back of the queue, so a long ladder never starves a
match or a tournament queued after it. A tournament with ``pace_s`` comes back to the
queue only after that many seconds: a continuous ladder plays in the background at a
steady pace.

Only one runner may work on a database at a time. Given a
:class:`~devspark.server.lease.RunnerLease` (the server always gives one), the runner
plays only while it holds the lease; without it, it tries again every ``poll_s``
seconds. The holder also looks in the database every ``poll_s`` seconds when idle, for
work that another server process accepted, so any server may take requests.

With a :class:`~devspark.server.live.LiveHub` the runner publishes progress on
``tournament:<id>`` (and each match's own events on ``match:<id>``): ``tournament``
(status ``running`` when it starts, its stored status when the pass ends),
``match_started`` and ``match_finished`` (``match_failed`` on ``match:<id>`` when a
match of its own fails; a failed tournament's ``tournament`` event carries ``error``).
While someone watches ``match:<id>``, each step of that match is published there too
(``step``: moves, rewards and the full state), when the executor plays in the runner's
process (one match worker, the default). Publishing never blocks the runner.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import Executor, LocalExecutor
from devspark.arena.match import MatchSpec, Move
from devspark.arena.replay import moves_json, plain_json
from devspark.core.results import MatchResult
from devspark.scenarios import AnyScenario
from devspark.server.lease import RunnerLease
from devspark.server.live import LiveHub, match_topic, tournament_topic
from devspark.services.durable import (
    NO_PLAYBACK,
    DurableTournament,
    Playback,
    run_match_durably,
)
from devspark.services.failures import (
    PlayInterrupted,
    describe,
    fail_match_by_id,
    fail_tournament_by_id,
    sweep_abandoned,
)
from devspark.store.models import MatchRow, TournamentRow

logger = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT_S = 60.0
"""How long :meth:`TournamentRunner.stop` waits for the match in progress."""

DEFAULT_SLICE = 8
"""Matches a tournament plays before the work queued behind it gets its turn."""

DEFAULT_POLL_S = 2.0
"""Seconds between two tries for the lease, and between two looks for new work."""


class RunnerStoppingError(PlayInterrupted):
    """Raised inside the runner thread to abandon a tournament when the runner stops.

    A :class:`~devspark.services.failures.PlayInterrupted`: the match stays queued.
    """


class _StoppableExecutor:
    """An executor that refuses to start another match once ``stopping`` is set."""

    def __init__(self, inner: Executor, stopping: threading.Event) -> None:
        self.inner = inner
        self.stopping = stopping

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        """Play ``specs`` unless the runner is stopping."""
        if self.stopping.is_set():
            raise RunnerStoppingError("the tournament runner is stopping")
        return self.inner.map(specs)

    def close(self) -> None:
        """Close the wrapped executor."""
        self.inner.close()


class _StepPublisher:
    """A step recorder that publishes each step of one match while someone watches."""

    def __init__(self, hub: LiveHub, match_id: uuid.UUID) -> None:
        self.hub = hub
        self.match_id = str(match_id)
        self.topic = match_topic(match_id)

    def start(self, env: AnyScenario) -> None:
        """Publish the state after reset."""
        if not self.hub.watching(self.topic):
            return
        try:
            state = plain_json(env.render_state())
        except Exception:  # live events are best effort; never fail the match for them
            logger.exception("could not publish the start of match %s", self.match_id)
            return
        self.hub.publish(
            self.topic,
            {
                "type": "step",
                "match_id": self.match_id,
                "step": -1,
                "moves": [],
                "rewards": {},
                "state": state,
            },
        )

    def __call__(self, step: int, moves: list[Move], env: AnyScenario) -> None:
        """Publish one applied step."""
        if not self.hub.watching(self.topic):
            return
        try:
            event = {
                "type": "step",
                "match_id": self.match_id,
                "step": step,
                "moves": moves_json(moves),
                "rewards": {agent: reward for agent, reward in env.rewards.items() if reward},
                "state": plain_json(env.render_state()),
            }
        except Exception:  # live events are best effort; never fail the match for them
            logger.exception("could not publish step %d of match %s", step, self.match_id)
            return
        self.hub.publish(self.topic, event)


class _PublishingExecutor:
    """Publishes ``match_started`` / ``match_finished`` (and steps) to a hub.

    The durable runner commits a match ``running`` before asking for it to be played, so
    a tournament's match id is read back from the database when ``map`` is called.

    Args:
        inner: The executor that plays.
        hub: Where events go.
        session_factory: Sessions to find the running match.
        tournament_id: The tournament played, or ``None`` for a match of its own.
        match_id: The match of its own (``tournament_id=None``).
        local: The in-process executor under ``inner``, told to publish steps.

    """

    def __init__(
        self,
        inner: Executor,
        hub: LiveHub,
        session_factory: sessionmaker[Session],
        tournament_id: uuid.UUID | None,
        *,
        match_id: uuid.UUID | None = None,
        local: LocalExecutor | None = None,
    ) -> None:
        self.inner = inner
        self.hub = hub
        self.session_factory = session_factory
        self.tournament_id = tournament_id
        self.match_id = match_id
        self.local = local

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        """Play ``specs`` with the wrapped executor, publishing around each match."""
        match_id = self.match_id or self._running_match()
        if self.local is not None:
            self.local.observe(None if match_id is None else _StepPublisher(self.hub, match_id))
        results = self.inner.map(specs)  # raises at once when the runner stops
        return self._publish_results(specs, results, match_id)

    def _publish_results(
        self,
        specs: Sequence[MatchSpec],
        results: Iterator[MatchResult],
        match_id: uuid.UUID | None,
    ) -> Iterator[MatchResult]:
        # ``match_finished`` goes out once the result is committed (Playback.on_stored),
        # so a client that reacts to it finds the result and the replay stored.
        for spec in specs:
            self._publish(
                match_id,
                {"type": "match_started", "agents": list(spec.agents), "seed": spec.seed},
            )
            yield next(results)

    def _publish(self, match_id: uuid.UUID | None, event: dict[str, Any]) -> None:
        event = {
            **event,
            "tournament_id": None if self.tournament_id is None else str(self.tournament_id),
            "match_id": None if match_id is None else str(match_id),
        }
        if self.tournament_id is not None:
            self.hub.publish(tournament_topic(self.tournament_id), event)
        if match_id is not None:
            self.hub.publish(match_topic(match_id), event)

    def _running_match(self) -> uuid.UUID | None:
        if self.tournament_id is None:
            return None
        try:
            with self.session_factory() as session:
                return session.scalar(
                    select(MatchRow.id)
                    .where(
                        MatchRow.tournament_id == self.tournament_id,
                        MatchRow.status == "running",
                    )
                    .order_by(MatchRow.started_at.desc())
                    .limit(1)
                )
        except Exception:  # live events are best effort; never fail the match for them
            logger.exception("could not read the running match of %s", self.tournament_id)
            return None

    def close(self) -> None:
        """Close the wrapped executor."""
        self.inner.close()


Job = tuple[str, uuid.UUID]
"""Queued work: (``"tournament"`` or ``"match"``, its id)."""


class TournamentRunner:
    """Plays queued tournaments and matches in one background thread.

    Args:
        session_factory: Sessions on the server's database.
        workers: Match processes of the :class:`LocalExecutor` (``1`` plays in the
            runner thread itself, and only then are steps published live).
        executor_factory: Builds the executor (tests substitute one); by default
            ``LocalExecutor(workers)``.
        hub: Where progress events are published (none by default).
        playback: Agent staging and replay storage (none by default: built-in agents
            only, no replays).
        slice_matches: Matches a tournament plays before yielding its turn.
        lease: The right to run on this database; ``None`` runs unconditionally and
            never looks for work other processes accepted (tests, a single process).
        poll_s: How often a runner without the lease tries to take it, and how often
            the holder looks for new work in the database when idle.

    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        workers: int = 1,
        executor_factory: Callable[[], Executor] | None = None,
        hub: LiveHub | None = None,
        playback: Playback = NO_PLAYBACK,
        slice_matches: int = DEFAULT_SLICE,
        lease: RunnerLease | None = None,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        if slice_matches < 1:
            raise ValueError(f"slice_matches={slice_matches} must be at least 1")
        self.lease = lease
        self.poll_s = poll_s
        self.holding = False
        """Whether this runner holds the lease (always, without one)."""
        self._waiting: set[uuid.UUID] = set()  # paced tournaments between two turns
        self._failed: set[Job] = set()  # raised: retried on the next start only
        self.slice_matches = slice_matches
        self._timers: set[threading.Timer] = set()
        self._announced: set[uuid.UUID] = set()  # touched by the runner thread only
        self._passes: dict[uuid.UUID, DurableTournament] = {}  # likewise
        self.session_factory = session_factory
        self.hub = hub
        self.workers = workers
        self.playback = playback if hub is None else replace(playback, on_stored=self._stored)
        self._executor_factory = executor_factory or (lambda: LocalExecutor(workers))
        self._local: LocalExecutor | None = None
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._pending: set[Job] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> list[uuid.UUID]:
        """Start the thread and re-enqueue every tournament left ``"running"``.

        Returns:
            The ids resumed, oldest first.

        """
        if self._thread is not None:
            return []
        self.holding = self.lease is None or self._try_lease()
        if self.holding:
            self._safely(lambda: sweep_abandoned(self.session_factory))
        resumed = self._discover() if self.holding else []
        self._thread = threading.Thread(target=self._work, name="devspark-tournaments", daemon=True)
        self._thread.start()
        return resumed

    def _try_lease(self) -> bool:
        if self.lease is None:
            return True
        try:
            held = self.lease.try_acquire()
        except Exception:
            logger.exception("could not ask for the runner lease")
            return False
        if held:
            logger.info("this server holds the runner lease: it plays tournaments and matches")
        return held

    def _safely(self, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception:  # a database blip must not end the runner thread
            logger.exception("runner housekeeping failed; trying again in %.1f s", self.poll_s)

    def _lease_lost(self) -> bool:
        """Whether the lease we held is gone (its connection died); if so, let go."""
        if self.lease is None or self.lease.still_held():
            return False
        logger.warning("the runner lease was lost; this server stops playing until it has it")
        self.holding = False
        for tournament_id in list(self._passes):
            self._drop_pass(tournament_id)
        with self._lock:
            self._pending.clear()
        while True:  # the new holder plays what was queued here
            try:
                leftover = self._queue.get_nowait()
            except queue.Empty:
                break
            if leftover is None:
                self._queue.put(None)
                break
        return True

    def _discover(self) -> list[uuid.UUID]:
        """Queue stored work that is not queued here yet; the tournaments found."""
        with self.session_factory() as session:
            tournaments = list(
                session.scalars(
                    select(TournamentRow.id)
                    .where(TournamentRow.status == "running")
                    .order_by(TournamentRow.created_at, TournamentRow.id)
                )
            )
            matches = list(
                session.scalars(
                    select(MatchRow.id)
                    .where(
                        MatchRow.tournament_id.is_(None),
                        MatchRow.status.in_(("queued", "running")),
                    )
                    .order_by(MatchRow.created_at, MatchRow.id)
                )
            )
        with self._lock:
            skip = self._pending | self._failed
            waiting = set(self._waiting)
        found: list[uuid.UUID] = []
        for tournament_id in tournaments:
            if ("tournament", tournament_id) in skip or tournament_id in waiting:
                continue
            logger.info("resuming tournament %s", tournament_id)
            self.submit(tournament_id)
            found.append(tournament_id)
        for match_id in matches:
            if ("match", match_id) not in skip:
                logger.info("resuming match %s", match_id)
                self.submit_match(match_id)
        return found

    def submit(self, tournament_id: uuid.UUID) -> bool:
        """Queue a tournament; ``False`` when it is already waiting or the runner stops."""
        return self._submit(("tournament", tournament_id))

    def submit_match(self, match_id: uuid.UUID) -> bool:
        """Queue a match of its own; ``False`` when already waiting or the runner stops."""
        return self._submit(("match", match_id))

    def _submit(self, job: Job) -> bool:
        if self._stopping.is_set():
            return False
        with self._lock:
            if job in self._pending:
                return False
            self._pending.add(job)
        self._queue.put(job)
        return True

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """Stop after the match in progress; queued tournaments stay for the next start."""
        self._stopping.set()
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("tournament runner still busy after %.0f s; left behind", timeout)
        if self._thread is not None and self._thread.is_alive():
            return  # still playing: the lease goes with the process, never before the work
        if self.lease is not None and self.holding:
            self.holding = False
            self.lease.release()

    def _work(self) -> None:
        inner = self._executor_factory()
        self._local = inner if isinstance(inner, LocalExecutor) and inner.workers == 1 else None
        executor = _StoppableExecutor(inner, self._stopping)
        try:
            while not self._stopping.is_set():
                if not self.holding:
                    if self._stopping.wait(self.poll_s):
                        break
                    self.holding = self._try_lease()
                    if self.holding:
                        self._safely(lambda: sweep_abandoned(self.session_factory))
                        self._safely(self._discover)
                    continue
                try:
                    job = self._queue.get(timeout=self.poll_s if self.lease else None)
                except queue.Empty:
                    if self._lease_lost():
                        continue
                    self._safely(self._discover)  # work another server process accepted
                    continue
                if job is not None and self._lease_lost():
                    continue  # another server holds it now; its runner has this work
                if job is None:
                    break
                with self._lock:
                    self._pending.discard(job)
                kind, ident = job
                if kind == "match":
                    self._run_match(ident, executor)
                else:
                    self._run(ident, executor)
        finally:
            for tournament_id in list(self._passes):
                self._drop_pass(tournament_id)
            executor.close()

    def _run_match(self, match_id: uuid.UUID, executor: Executor) -> None:
        if self.hub is not None:
            executor = _PublishingExecutor(
                executor,
                self.hub,
                self.session_factory,
                None,
                match_id=match_id,
                local=self._local,
            )
        try:
            run_match_durably(self.session_factory, match_id, executor, self.playback)
        except PlayInterrupted as exc:
            logger.info("match %s left queued: %s", match_id, exc)
        except Exception as exc:
            reason = describe(exc)
            logger.exception("match %s failed: %s", match_id, reason)
            self._end_failed(("match", match_id), reason)
        finally:
            if self._local is not None:
                self._local.observe(None)

    def _run(self, tournament_id: uuid.UUID, executor: Executor) -> None:
        if self.hub is not None:
            if tournament_id not in self._announced:
                self._announced.add(tournament_id)  # once per pass, not once per slice
                self._publish_status(self.hub, tournament_id, "running")
            executor = _PublishingExecutor(
                executor, self.hub, self.session_factory, tournament_id, local=self._local
            )
        pace = self._pace(tournament_id)
        status: str | None = None
        try:
            durable = self._passes.get(tournament_id)
            if durable is None:  # first slice: replays what is stored, once
                durable = DurableTournament(
                    self.session_factory, tournament_id, executor, self.playback
                )
                self._passes[tournament_id] = durable
            durable.executor = executor
            status = durable.advance(1 if pace > 0 else self.slice_matches)
        except PlayInterrupted as exc:
            logger.info("tournament %s paused: %s", tournament_id, exc)
        except Exception as exc:
            reason = describe(exc)
            logger.exception("tournament %s failed: %s", tournament_id, reason)
            self._end_failed(("tournament", tournament_id), reason)
        finally:
            if status != "running":  # done, failed or stopping: rebuilt from the database
                self._drop_pass(tournament_id)
            if self._local is not None:
                self._local.observe(None)
            if self.hub is not None and status != "running":
                self._announced.discard(tournament_id)
                self._publish_status(self.hub, tournament_id, None)
        if status == "running":  # its slice is over: back of the queue (after its pace)
            self._resubmit(tournament_id, pace)

    def _end_failed(self, job: Job, reason: str) -> None:
        """Store that ``job`` failed (a no-op when it already ended).

        When even that fails (the database is gone), the job is left as it is and
        tried again on the next start only.
        """
        kind, ident = job
        try:
            if kind == "match":
                fail_match_by_id(self.session_factory, ident, reason)
            else:
                fail_tournament_by_id(self.session_factory, ident, reason)
        except Exception:
            logger.exception("could not mark %s %s failed; retried on the next start", kind, ident)
            with self._lock:
                self._failed.add(job)
            return
        if self.hub is not None and kind == "match":
            event = {"type": "match_failed", "tournament_id": None, "match_id": str(ident)}
            self.hub.publish(match_topic(ident), {**event, "error": reason})

    def _drop_pass(self, tournament_id: uuid.UUID) -> None:
        durable = self._passes.pop(tournament_id, None)
        if durable is not None:
            durable.close()

    def _pace(self, tournament_id: uuid.UUID) -> float:
        try:
            with self.session_factory() as session:
                params = session.scalar(
                    select(TournamentRow.params).where(TournamentRow.id == tournament_id)
                )
        except Exception:
            logger.exception("could not read the pace of tournament %s", tournament_id)
            return 0.0
        return max(0.0, float((params or {}).get("pace_s", 0.0)))

    def _resubmit(self, tournament_id: uuid.UUID, delay: float) -> None:
        if delay <= 0:
            self.submit(tournament_id)
            return

        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
                self._waiting.discard(tournament_id)
            self.submit(tournament_id)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._lock:
            if self._stopping.is_set():
                return
            self._timers.add(timer)
            self._waiting.add(tournament_id)
        timer.start()

    def _stored(self, row: MatchRow, result: MatchResult) -> None:
        """Publish ``match_finished`` of a committed match."""
        if self.hub is None:
            return
        event = {
            "type": "match_finished",
            "tournament_id": None if row.tournament_id is None else str(row.tournament_id),
            "match_id": str(row.id),
            "agents": [record.agent for record in result.agents],
            "rewards": [record.reward for record in result.agents],
            "statuses": [str(record.status) for record in result.agents],
            "steps": result.steps,
            "wall_ms": result.wall_ms,
            "replay": row.replay_ref is not None,
        }
        if row.tournament_id is not None:
            self.hub.publish(tournament_topic(row.tournament_id), event)
        self.hub.publish(match_topic(row.id), event)

    def _publish_status(self, hub: LiveHub, tournament_id: uuid.UUID, status: str | None) -> None:
        """Publish a ``tournament`` event; ``status=None`` reads the stored status and error."""
        error: str | None = None
        if status is None:
            try:
                with self.session_factory() as session:
                    stored = session.execute(
                        select(TournamentRow.status, TournamentRow.error).where(
                            TournamentRow.id == tournament_id
                        )
                    ).first()
            except Exception:  # best effort, as every live event
                logger.exception("could not read the status of tournament %s", tournament_id)
                return
            status, error = (None, None) if stored is None else (stored[0], stored[1])
        event = {"type": "tournament", "tournament_id": str(tournament_id), "status": status}
        if error is not None:  # a failed tournament says why
            event["error"] = error
        hub.publish(tournament_topic(tournament_id), event)


__all__ = [
    "DEFAULT_POLL_S",
    "DEFAULT_SLICE",
    "DEFAULT_STOP_TIMEOUT_S",
    "RunnerStoppingError",
    "TournamentRunner",
]
