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
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import Executor, LocalExecutor
from devspark.arena.match import MatchSpec
from devspark.core.results import MatchResult
from devspark.services.durable import run_tournament_durably
from devspark.store.models import TournamentRow

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


class TournamentRunner:
    """Plays queued tournaments in one background thread.

    Args:
        session_factory: Sessions on the server's database.
        workers: Match processes of the :class:`LocalExecutor` (``1`` plays in the
            runner thread itself).
        executor_factory: Builds the executor (tests substitute one); by default
            ``LocalExecutor(workers)``.

    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        workers: int = 1,
        executor_factory: Callable[[], Executor] | None = None,
    ) -> None:
        self.session_factory = session_factory
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
        try:
            run_tournament_durably(self.session_factory, tournament_id, executor)
        except RunnerStoppingError:
            logger.info("tournament %s paused: the runner is stopping", tournament_id)
        except Exception:
            # The tournament stays "running": the next start resumes it.
            logger.exception("tournament %s failed; it will be resumed on restart", tournament_id)


__all__ = ["DEFAULT_STOP_TIMEOUT_S", "RunnerStoppingError", "TournamentRunner"]
