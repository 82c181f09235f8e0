"""A worker: slots that claim queued matches, play them, store them and drive tournaments.

A :class:`Worker` registers itself in the ``workers`` table, then runs:

* ``slots`` threads, each with an executor of its own (a warm in-process
  :class:`~devspark.arena.pool.WorkerCache` by default, so live steps are seen). A slot
  claims the next match (:func:`~devspark.services.queue.claim_match`), plays and stores
  it (:func:`~devspark.services.playing.play_claimed`) and, for a tournament's match,
  advances the tournament (:func:`~devspark.services.durable.advance`): records the
  finished round, queues the next or stores the standings.
* one supervising thread that beats every ``heartbeat_s`` seconds, reaps the workers
  whose lease ran out (their matches go back to the queue), advances running
  tournaments that have nothing queued (just started, or whose last match's worker
  died), and ends the queued matches of cancelled tournaments; it also expires service
  tasks past their deadline and gives back the tasks and instances of dead workers.
* a :class:`~devspark.hosting.Host` (unless ``instances=0``) that hosts up to
  ``instances`` service-agent instances and runs the tasks queued for them; it beats
  with the worker and is woken by :meth:`Worker.notify`.

:meth:`Worker.drain` (what SIGTERM does in ``devspark worker``) stops claiming; the
matches in flight finish and are stored, then the worker marks itself ``offline``.
A worker killed outright keeps its claims until its lease runs out (``lease_s``,
15 s by default); then any other worker plays them again from their spec. Nothing
finished is lost or stored twice: a match is stored only by the worker holding it.

On SQLite only one worker plays at a time (:mod:`devspark.worker.lease`); another one
says so and waits for the lock.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import Executor, make_executor
from devspark.core.errors import InvalidArgumentError
from devspark.core.status import TournamentStatus, WorkerState
from devspark.hosting import Host, HostConfig, WorkerFactory
from devspark.hosting.database import DatabaseBackend, sandboxed_workers
from devspark.services.durable import (
    TournamentBooks,
    advance,
    cancelled_with_queued,
    needing_advance,
)
from devspark.services.failures import PlayInterrupted
from devspark.services.live import LiveHub
from devspark.services.playing import NO_PLAYBACK, Playback, play_claimed
from devspark.services.queue import (
    DEFAULT_LEASE_S,
    WorkerIdentity,
    claim_match,
    heartbeat,
    mark_offline,
    reap,
    register_worker,
    retire_worker,
    workers_on,
)
from devspark.services.tasks import expire_tasks, requeue_orphans
from devspark.services.tournaments import get_tournament
from devspark.worker.lease import FileLease, lease_for
from devspark.worker.publishing import Announcer, AnnouncingExecutor

logger = logging.getLogger(__name__)

_IDLE, _PLAYED, _BROKE = "idle", "played", "broke"

EXECUTORS = ("local", "ray")
"""Where a worker's slots play: in this process, or on a Ray cluster."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How a worker runs.

    Attributes:
        slots: Matches played at once (threads, each with its own warm agents).
        executor: ``local`` (in this process) or ``ray`` (``DEVSPARK_RAY_ADDRESS``).
        name: Shown in ``GET /api/v1/workers``; default ``<host>-<pid>``.
        poll_s: How long an idle slot waits before looking for work again.
        heartbeat_s: Seconds between two heartbeats (and reaps).
        lease_s: A worker silent this long is offline and its matches are queued again.
        instances: Service instances hosted at once (0: host none;
            :mod:`devspark.hosting`).
        task_threads: Service tasks handled at once.

    """

    slots: int = 1
    executor: str = "local"
    name: str | None = None
    poll_s: float = 0.2
    heartbeat_s: float = 2.0
    lease_s: float = DEFAULT_LEASE_S
    instances: int = 32
    task_threads: int = 256

    def __post_init__(self) -> None:
        if not 0 <= self.instances <= 4096:
            raise InvalidArgumentError(f"instances={self.instances} must be between 0 and 4096")
        if not 1 <= self.task_threads <= 4096:
            raise InvalidArgumentError(
                f"task_threads={self.task_threads} must be between 1 and 4096"
            )
        if not 1 <= self.slots <= 64:
            raise InvalidArgumentError(f"workers={self.slots} must be between 1 and 64")
        if self.executor not in EXECUTORS:
            raise InvalidArgumentError(
                f"executor={self.executor!r} is not one of: {', '.join(EXECUTORS)}"
            )
        if self.lease_s <= 2 * self.heartbeat_s:
            raise InvalidArgumentError(
                f"lease_s={self.lease_s} must be more than twice heartbeat_s={self.heartbeat_s}"
            )


class Worker:
    """Plays queued work from one database until drained.

    Args:
        session_factory: Sessions on the database.
        engine: Its engine (SQLite needs the lock file next to its file).
        data_dir: Where an in-memory SQLite database keeps its lock file.
        config: Slots, executor, name and timings.
        hub: Where live events go (none: no live events).
        playback: Agent staging and replay storage.
        executor_factory: Builds a slot's executor (tests substitute one).
        say: Told what an operator should know (waiting for the SQLite lock...).
        service_workers: Builds the processes of a hosted service instance (default:
            sandboxed, :func:`~devspark.hosting.database.sandboxed_workers`).

    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        engine: Engine,
        data_dir: Path,
        *,
        config: WorkerConfig | None = None,
        hub: LiveHub | None = None,
        playback: Playback = NO_PLAYBACK,
        executor_factory: Callable[[], Executor] | None = None,
        say: Callable[[str], None] | None = None,
        service_workers: WorkerFactory | None = None,
    ) -> None:
        self.config = config or WorkerConfig()
        self.hub = hub
        self.host: Host | None = None
        """The service instances hosted here (set once the worker registered)."""
        self._service_workers = service_workers or sandboxed_workers()
        self.session_factory = session_factory
        self.lease: FileLease | None = lease_for(engine, data_dir)
        self.announcer = None if hub is None else Announcer(hub)
        self.playback = (
            playback
            if self.announcer is None
            else replace(playback, on_stored=self.announcer.finished)
        )
        self._executor_factory = executor_factory or self._default_executor
        self._say = say or logger.info
        self.books = TournamentBooks()
        self.worker_id: uuid.UUID | None = None
        self.played = 0
        self.claim_ms: list[float] = []
        """Each claim's transaction time, newest last (kept for the last 10,000)."""
        self._in_flight = 0
        self._count_lock = threading.Lock()
        self._draining = threading.Event()
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._paused = threading.Event()
        self._claiming: list[threading.Lock] = []  # one per slot, held while it claims
        self._advancing = threading.Lock()  # held while the supervisor advances a tournament
        self._slots: list[threading.Thread] = []
        self._supervisor: threading.Thread | None = None

    def _default_executor(self) -> Executor:
        return make_executor(self.config.executor, workers=1)

    # ------------------------------------------------------------------ lifecycle

    @property
    def state(self) -> WorkerState:
        """``idle``, ``busy``, ``draining`` or ``offline``."""
        if self._stopped.is_set():
            return WorkerState.OFFLINE
        if self._draining.is_set():
            return WorkerState.DRAINING
        return WorkerState.BUSY if self._in_flight else WorkerState.IDLE

    @property
    def in_flight(self) -> int:
        """Matches being played now."""
        return self._in_flight

    def start(self) -> None:
        """Start in the background (returns at once; the SQLite lock may come later)."""
        if self._supervisor is not None:
            return
        self._supervisor = threading.Thread(
            target=self._supervise, name="devspark-worker", daemon=True
        )
        self._supervisor.start()

    def run(self) -> None:
        """Run in this thread until :meth:`drain` is called and the work in flight is done."""
        self._supervisor = threading.current_thread()
        self._supervise()

    def drain(self) -> None:
        """Claim nothing more; the matches in flight finish, then the worker stops."""
        if not self._draining.is_set():
            self._say("draining: finishing the matches in flight, claiming no more")
        self._draining.set()
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Drain and wait (at most ``timeout`` seconds) until the worker has stopped."""
        self.drain()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout)
            if supervisor.is_alive():
                logger.warning("worker still busy after %.0f s; left behind", timeout)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the worker has stopped; whether it has."""
        return self._stopped.wait(timeout)

    def pause(self) -> None:
        """Claim nothing new and queue no tournament's round until :meth:`resume`.

        The matches in flight go on (a tournament whose match finishes still advances).
        Returns once no slot is in the middle of a claim and the supervisor is not
        advancing a tournament: work queued or changed after this call waits for
        :meth:`resume`.
        """
        self._paused.set()
        for held in [self._advancing, *self._claiming]:  # what started before the pause ends
            with held:
                pass

    def resume(self) -> None:
        """Claim again after :meth:`pause`."""
        self._paused.clear()
        self._wake.set()

    def notify(self) -> None:
        """Work was queued: idle slots and the host look at once instead of after ``poll_s``."""
        self._wake.set()
        if self.host is not None:
            self.host.wake()

    # ------------------------------------------------------------------ supervisor

    def _supervise(self) -> None:
        try:
            if not self._take_lease():
                return
            identity = WorkerIdentity.here(
                self.config.name, executor=self.config.executor, slots=self.config.slots
            )
            with self.session_factory() as session:
                self.worker_id = register_worker(session, identity)
            self._say(
                f"worker {identity.name} ({self.worker_id}) plays with "
                f"{self.config.slots} slot(s) on the {self.config.executor} executor"
            )
            self._housekeeping()
            self._start_host(self.worker_id)
            self._slots = [
                threading.Thread(target=self._slot, name=f"devspark-slot-{n}", daemon=True)
                for n in range(self.config.slots)
            ]
            for slot in self._slots:
                slot.start()
            while not self._draining.wait(self.config.heartbeat_s):
                self._beat()
                self._housekeeping()
            self._beat()  # others see "draining"
            for slot in self._slots:
                slot.join()
            if self.host is not None:
                self.host.stop()
        finally:
            self._retire()

    def _start_host(self, worker_id: uuid.UUID) -> None:
        if self.config.instances == 0:
            return
        backend = DatabaseBackend(
            self.session_factory, worker_id, hub=self.hub, stager=self.playback.stager
        )
        self.host = Host(
            backend,
            self._service_workers,
            config=HostConfig(
                instances=self.config.instances,
                max_threads=self.config.task_threads,
                poll_s=self.config.poll_s,
            ),
        )
        self.host.start()
        self._beat_host()

    def _beat_host(self) -> None:
        if self.host is None or self._draining.is_set():
            return
        try:
            self.host.beat()
        except Exception:  # a database blip must not end the worker
            logger.exception(
                "service heartbeat failed; trying again in %.1f s", self.config.heartbeat_s
            )

    def _take_lease(self) -> bool:
        lease = self.lease
        if lease is None or lease.try_acquire():
            return True
        self._say(
            f"another worker plays on this SQLite database (it holds {lease.path}); "
            "on SQLite one worker plays at a time: waiting for it to stop"
        )
        while not self._draining.wait(self.config.heartbeat_s):
            if lease.try_acquire():
                self._say("the other worker stopped: this one plays now")
                return True
        return False

    def _beat(self) -> None:
        if self.worker_id is None:
            return
        try:
            with self.session_factory() as session:
                alive = heartbeat(
                    session,
                    self.worker_id,
                    state=self.state,
                    in_flight=self._in_flight,
                    played=self.played,
                )
            self._beat_host()
            if not alive:
                logger.warning(
                    "this worker's lease ran out (no heartbeat for %.0f s): the matches it "
                    "held were queued again; it goes on with new ones",
                    self.config.lease_s,
                )
        except Exception:  # a database blip must not end the worker
            logger.exception("heartbeat failed; trying again in %.1f s", self.config.heartbeat_s)

    def _housekeeping(self) -> None:
        try:
            with self.session_factory() as session:
                self._forget_the_dead_here(session)
                requeued = reap(session, self.config.lease_s)
                requeued += requeue_orphans(session, hub=self.hub)
                expire_tasks(session, hub=self.hub)
                due = needing_advance(session) + cancelled_with_queued(session)
            if requeued:
                logger.warning(
                    "%d match(es) or task(s) of workers that went silent were queued again",
                    requeued,
                )
                self.notify()
            for tournament_id in due:
                with self._advancing:
                    if self._draining.is_set() or self._paused.is_set():
                        break
                    self._advance(tournament_id, announce_start=True)
        except Exception:
            logger.exception("housekeeping failed; trying again in %.1f s", self.config.heartbeat_s)

    def _forget_the_dead_here(self, session: Session) -> None:
        """Workers of this host whose process is gone lose their claims now, not after the lease.

        What lets a server killed and started again on the same machine go on at once.
        """
        here = WorkerIdentity.here().host
        dead = [
            ident
            for ident, pid in workers_on(session, here).items()
            if ident != self.worker_id and not _process_exists(pid)
        ]
        if dead:
            logger.warning(
                "%d worker(s) of this host are gone: their matches are queued again", len(dead)
            )
        mark_offline(session, dead)

    def _retire(self) -> None:
        try:
            if self.worker_id is not None:
                with self.session_factory() as session:
                    retire_worker(session, self.worker_id, played=self.played)
        except Exception:
            logger.exception("could not mark worker %s offline", self.worker_id)
        finally:
            if self.lease is not None:
                self.lease.release()
            self._stopped.set()

    # ------------------------------------------------------------------ slots

    def _slot(self) -> None:
        executor = self._new_executor()
        claiming = threading.Lock()
        self._claiming.append(claiming)
        try:
            while not self._draining.is_set():
                outcome = _IDLE if self._paused.is_set() else self._play_next(executor, claiming)
                if outcome == _BROKE:  # its warm agents may be mid-episode: start afresh
                    executor.close()
                    executor = self._new_executor()
                elif outcome == _IDLE:
                    self._wake.wait(self.config.poll_s)
                    self._wake.clear()
        finally:
            executor.close()

    def _new_executor(self) -> Executor:
        executor = self._executor_factory()
        if self.announcer is not None:
            executor = AnnouncingExecutor(executor, self.announcer)
        return executor

    def _play_next(self, executor: Executor, claiming: threading.Lock) -> str:
        """Claim and play one match: ``idle`` (none), ``played``, or ``broke`` (it failed)."""
        assert self.worker_id is not None
        try:
            with claiming:
                if self._paused.is_set():
                    return _IDLE
                with self.session_factory() as session:
                    claim = claim_match(session, self.worker_id)
        except Exception:
            logger.exception("claiming work failed; trying again in %.1f s", self.config.poll_s)
            return _IDLE
        if claim is None:
            return _IDLE
        self._record_claim(claim.claim_ms)
        with self._count_lock:
            self._in_flight += 1
        if isinstance(executor, AnnouncingExecutor):
            executor.match_id, executor.tournament_id = claim.match_id, claim.tournament_id
        try:
            played = play_claimed(
                self.session_factory, claim.match_id, self.worker_id, executor, self.playback
            )
        except PlayInterrupted as exc:
            logger.info("match %s given back to the queue: %s", claim.match_id, exc)
            return _IDLE
        except Exception:
            logger.exception("match %s could not be played or stored", claim.match_id)
            return _BROKE
        finally:
            with self._count_lock:
                self._in_flight -= 1
        if played.result is not None:
            with self._count_lock:
                self.played += 1
        if played.error is not None and self.announcer is not None:
            self.announcer.failed(claim.match_id, claim.tournament_id, played.error)
        if claim.tournament_id is not None:
            self._advance(claim.tournament_id)
        return _BROKE if played.error is not None else _PLAYED

    def _record_claim(self, ms: float) -> None:
        with self._count_lock:
            self.claim_ms.append(ms)
            if len(self.claim_ms) > 10_000:
                del self.claim_ms[:5_000]

    def _advance(self, tournament_id: uuid.UUID, *, announce_start: bool = False) -> None:
        try:
            with self.session_factory() as session:
                status = advance(session, tournament_id, self.books)
                error = None
                if status == TournamentStatus.FAILED:
                    error = get_tournament(session, tournament_id).error
        except Exception:
            logger.exception("could not advance tournament %s", tournament_id)
            return
        if self.announcer is None:
            return
        if status == TournamentStatus.RUNNING:
            if announce_start:
                self.announcer.tournament(tournament_id, status)
            self._wake.set()  # its next round is queued
        elif status in (
            TournamentStatus.FINISHED,
            TournamentStatus.FAILED,
            TournamentStatus.CANCELLED,
        ):
            self.announcer.tournament(tournament_id, status, error)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


__all__ = ["EXECUTORS", "Worker", "WorkerConfig"]
