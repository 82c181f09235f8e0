"""Executors: where match specs are played. Local processes by default, Ray on request.

Both keep agent sandboxes warm across matches (one :class:`~devspark.arena.pool.
WorkerCache` per process or actor) and yield results in the order of the specs, so a
tournament scheduler that feeds them gets the same standings wherever it runs.

``make_executor()`` picks one from the environment: ``DEVSPARK_EXECUTOR=local``
(default) or ``ray`` with ``DEVSPARK_RAY_ADDRESS`` (a cluster address; empty starts a
local Ray instance). Ray is an optional extra (``pip install 'devspark[ray]'``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Protocol

from devspark.arena.match import MatchSpec, StepRecorder
from devspark.arena.pool import WorkerCache, init_worker_process, play_one
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.core.results import MatchResult

MAX_ATTEMPTS = 3
"""A match that takes its worker process down this many times is reported, not retried."""


class Executor(Protocol):
    """Plays match specs; results come back in the order of the specs."""

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        """Play ``specs``; yield each result in input order as soon as it is ready."""
        ...

    def close(self) -> None:
        """Stop the workers and every agent sandbox they keep warm."""
        ...


class LocalExecutor:
    """A persistent pool of match processes on this machine, agents kept warm.

    Each process plays one match at a time with its own warm sandboxes. If a worker
    process dies (killed, out of memory), the pool is rebuilt and every match that had
    not finished is queued again: a crash loses at most the match in progress, which
    is replayed from its spec (matches are deterministic).

    Args:
        workers: Processes; ``None`` uses every core, ``1`` plays in this process.
        play: What a pool process runs per spec (tests substitute a crashing one).

    Attributes:
        restarts: How many times the pool was rebuilt after a crash.

    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        play: Callable[[MatchSpec], MatchResult] = play_one,
    ) -> None:
        count = workers or os.cpu_count() or 1
        if count < 1:
            raise InvalidArgumentError(f"workers={workers!r} must be at least 1")
        self.workers = count
        self.restarts = 0
        self._play = play
        self._pool: ProcessPoolExecutor | None = None
        self._local: WorkerCache | None = WorkerCache() if count == 1 else None
        self._recorder: StepRecorder | None = None

    def observe(self, recorder: StepRecorder | None) -> None:
        """Show every step of the next matches played *in this process* to ``recorder``.

        Only an executor with ``workers=1`` plays in this process; a process pool's
        steps happen elsewhere and are not observed. ``None`` stops observing.
        """
        self._recorder = recorder

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        """Play ``specs``, yielding results in input order.

        Raises:
            FailedPreconditionError: A match brought its worker down
                :data:`MAX_ATTEMPTS` times.

        """
        if self._local is not None:
            for spec in specs:
                yield self._local.play(spec, recorder=self._recorder)
            return
        attempts = [0] * len(specs)
        futures = [self._submit(spec) for spec in specs]
        for index in range(len(specs)):
            while True:
                try:
                    result = futures[index].result()
                    break
                except BrokenProcessPool:
                    attempts[index] += 1
                    if attempts[index] >= MAX_ATTEMPTS:
                        raise FailedPreconditionError(
                            f"match {index} ({specs[index].scenario}, {specs[index].agents}, "
                            f"seed {specs[index].seed}) took its worker process down "
                            f"{MAX_ATTEMPTS} times"
                        ) from None
                    self._restart()
                    for later in range(index, len(specs)):
                        if not _succeeded(futures[later]):
                            futures[later] = self._submit(specs[later])
            yield result

    def _submit(self, spec: MatchSpec) -> Future[MatchResult]:
        if self._pool is None:
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=init_worker_process
            )
        return self._pool.submit(self._play, spec)

    def _restart(self) -> None:
        self.restarts += 1
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Stop the pool; its processes stop their sandboxes on the way out."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._local is not None:
            self._local.close()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _succeeded(future: Future[MatchResult]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def make_executor(kind: str | None = None, *, workers: int | None = None) -> Executor:
    """The executor named by ``kind`` or ``DEVSPARK_EXECUTOR`` (``local`` by default).

    Args:
        kind: ``"local"`` or ``"ray"``; ``None`` reads ``DEVSPARK_EXECUTOR``.
        workers: Processes (local) or actors (Ray); ``None``: one per core / CPU.

    Raises:
        InvalidArgumentError: Unknown kind.
        FailedPreconditionError: ``ray`` without the Ray extra installed.

    """
    name = (kind or os.environ.get("DEVSPARK_EXECUTOR") or "local").strip().lower()
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        try:
            from devspark.arena.ray_executor import RayExecutor
        except ImportError as exc:  # the optional extra is missing
            raise FailedPreconditionError(
                "DEVSPARK_EXECUTOR=ray needs Ray: pip install 'devspark[ray]'"
            ) from exc
        return RayExecutor(address=os.environ.get("DEVSPARK_RAY_ADDRESS") or None, actors=workers)
    raise InvalidArgumentError(f"executor {name!r} is not one of: local, ray")
