"""The server's background tournament runner: one thread, one executor, a queue of ids.

:class:`TournamentRunner` takes tournament ids from a queue and plays each with
:func:`devspark.services.durable.run_tournament_durably`, one tournament at a time. On
:meth:`~TournamentRunner.start` it re-enqueues every tournament whose status is
``"running"``: a server killed mid-tournament resumes it on its next start, with no
finished match lost and none played twice (the durable runner's guarantee).

:meth:`~TournamentRunner.stop` lets the match in progress finish, then stops before the
next one: the tournament stays ``"running"`` in the database and is resumed by the next
start, exactly as after a crash.

Only one runner may work on a database at a time: a deployment with several server
processes must run the runner in one of them (not handled yet).

With a :class:`~devspark.server.live.LiveHub` the runner publishes progress on
``tournament:<id>`` (and each match's own events on ``match:<id>``): ``tournament``
(status ``running`` when it starts, its stored status when the pass ends),
``match_started`` and ``match_finished``. Publishing never blocks the runner.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import Executor, LocalExecutor
from devspark.arena.match import MatchSpec
from devspark.core.results import MatchResult
from devspark.server.live import LiveHub, match_topic, tournament_topic
from devspark.services.durable import run_tournament_durably
from devspark.store.models import MatchRow, TournamentRow

logger = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT_S = 60.0
"""How long :meth:`TournamentRunner.stop` waits for the match in progress."""


class RunnerStoppingError(Exception):
    """Raised inside the runner thread to abandon a tournament when the runner stops."""


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


class _PublishingExecutor:
    """Publishes ``match_started`` / ``match_finished`` of one tournament to a hub.

    The durable runner commits a match ``running`` before asking for it to be played, so
    the match id is read back from the database when ``map`` is called.
    """

    def __init__(
        self,
        inner: Executor,
        hub: LiveHub,
        session_factory: sessionmaker[Session],
        tournament_id: uuid.UUID,
    ) -> None:
        self.inner = inner
        self.hub = hub
        self.session_factory = session_factory
        self.tournament_id = tournament_id

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        """Play ``specs`` with the wrapped executor, publishing around each match."""
        match_id = self._running_match()
        results = self.inner.map(specs)  # raises at once when the runner stops
        return self._publish_results(specs, results, match_id)

    def _publish_results(
        self,
        specs: Sequence[MatchSpec],
        results: Iterator[MatchResult],
        match_id: uuid.UUID | None,
    ) -> Iterator[MatchResult]:
        for spec in specs:
            self._publish(
                match_id,
                {"type": "match_started", "agents": list(spec.agents), "seed": spec.seed},
            )
            result = next(results)
            self._publish(
                match_id,
                {
                    "type": "match_finished",
                    "agents": [record.agent for record in result.agents],
                    "rewards": [record.reward for record in result.agents],
                    "statuses": [str(record.status) for record in result.agents],
                    "steps": result.steps,
                    "wall_ms": result.wall_ms,
                },
            )
            yield result

    def _publish(self, match_id: uuid.UUID | None, event: dict[str, Any]) -> None:
        event = {
            **event,
            "tournament_id": str(self.tournament_id),
            "match_id": None if match_id is None else str(match_id),
        }
        self.hub.publish(tournament_topic(self.tournament_id), event)
        if match_id is not None:
            self.hub.publish(match_topic(match_id), event)

    def _running_match(self) -> uuid.UUID | None:
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


class TournamentRunner:
    """Plays queued tournaments in one background thread.

    Args:
        session_factory: Sessions on the server's database.
        workers: Match processes of the :class:`LocalExecutor` (``1`` plays in the
            runner thread itself).
        executor_factory: Builds the executor (tests substitute one); by default
            ``LocalExecutor(workers)``.
        hub: Where progress events are published (none by default).

    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        workers: int = 1,
        executor_factory: Callable[[], Executor] | None = None,
        hub: LiveHub | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.hub = hub
        self.workers = workers
        self._executor_factory = executor_factory or (lambda: LocalExecutor(workers))
        self._queue: queue.Queue[uuid.UUID | None] = queue.Queue()
        self._pending: set[uuid.UUID] = set()
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
        with self.session_factory() as session:
            resumed = list(
                session.scalars(
                    select(TournamentRow.id)
                    .where(TournamentRow.status == "running")
                    .order_by(TournamentRow.created_at, TournamentRow.id)
                )
            )
        for tournament_id in resumed:
            logger.info("resuming tournament %s", tournament_id)
            self.submit(tournament_id)
        self._thread = threading.Thread(target=self._work, name="devspark-tournaments", daemon=True)
        self._thread.start()
        return resumed

    def submit(self, tournament_id: uuid.UUID) -> bool:
        """Queue a tournament; ``False`` when it is already waiting or the runner stops."""
        if self._stopping.is_set():
            return False
        with self._lock:
            if tournament_id in self._pending:
                return False
            self._pending.add(tournament_id)
        self._queue.put(tournament_id)
        return True

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """Stop after the match in progress; queued tournaments stay for the next start."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("tournament runner still busy after %.0f s; left behind", timeout)

    def _work(self) -> None:
        executor = _StoppableExecutor(self._executor_factory(), self._stopping)
        try:
            while not self._stopping.is_set():
                tournament_id = self._queue.get()
                if tournament_id is None:
                    break
                with self._lock:
                    self._pending.discard(tournament_id)
                self._run(tournament_id, executor)
        finally:
            executor.close()

    def _run(self, tournament_id: uuid.UUID, executor: Executor) -> None:
        if self.hub is not None:
            self._publish_status(self.hub, tournament_id, "running")
            executor = _PublishingExecutor(executor, self.hub, self.session_factory, tournament_id)
        try:
            run_tournament_durably(self.session_factory, tournament_id, executor)
        except RunnerStoppingError:
            logger.info("tournament %s paused: the runner is stopping", tournament_id)
        except Exception:
            # The tournament stays "running": the next start resumes it.
            logger.exception("tournament %s failed; it will be resumed on restart", tournament_id)
        finally:
            if self.hub is not None:
                self._publish_status(self.hub, tournament_id, None)

    def _publish_status(self, hub: LiveHub, tournament_id: uuid.UUID, status: str | None) -> None:
        """Publish a ``tournament`` event; ``status=None`` reads the stored status."""
        if status is None:
            try:
                with self.session_factory() as session:
                    status = session.scalar(
                        select(TournamentRow.status).where(TournamentRow.id == tournament_id)
                    )
            except Exception:  # best effort, as every live event
                logger.exception("could not read the status of tournament %s", tournament_id)
                return
        hub.publish(
            tournament_topic(tournament_id),
            {"type": "tournament", "tournament_id": str(tournament_id), "status": status},
        )


__all__ = ["DEFAULT_STOP_TIMEOUT_S", "RunnerStoppingError", "TournamentRunner"]
