"""Warm workers and a local multi-process executor for batches of matches.

A :class:`WorkerCache` keeps one warm worker per (agent, seat, isolation) so a run of
matches pays the sandbox start once. :func:`run_matches` spreads match specs over
processes (all cores by default), each with its own cache, and yields results in order.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor

from devspark.arena.agents import resolve_agent
from devspark.arena.match import MatchSpec, agent_seed, make_for, play_episode
from devspark.core.errors import InvalidArgumentError
from devspark.core.ports import AgentPackage, AgentWorker
from devspark.core.results import MatchResult
from devspark.sandbox import IsolationLevel, open_worker
from devspark.sandbox.reaper import become_subreaper
from devspark.scenarios import AnyScenario


class WorkerCache:
    """Warm workers and scenario instances, reused across matches."""

    def __init__(self) -> None:
        self._workers: dict[tuple[str, int, IsolationLevel], AgentWorker] = {}
        self._packages: dict[str, AgentPackage] = {}
        self._envs: dict[tuple[str, int], AnyScenario] = {}
        self._episodes = 0

    def package(self, ref: str) -> AgentPackage:
        """Resolve ``ref`` once."""
        if ref not in self._packages:
            self._packages[ref] = resolve_agent(ref)
        return self._packages[ref]

    def worker(self, ref: str, seat: int, level: IsolationLevel) -> AgentWorker:
        """The warm worker for ``ref`` in ``seat`` (started on first use)."""
        key = (ref, seat, level)
        if key not in self._workers:
            self._workers[key] = open_worker(self.package(ref), level, seed=agent_seed(0, seat))
        return self._workers[key]

    def play(self, spec: MatchSpec) -> MatchResult:
        """Play one match with warm workers."""
        key = (spec.scenario, len(spec.agents))
        env = self._envs.get(key)
        if env is None:
            env = self._envs[key] = make_for(spec)
        for ref in spec.agents:
            if not self.package(ref).manifest.plays(env.full_id):
                raise InvalidArgumentError(
                    f"agent {ref!r} does not declare scenario {env.scenario_id!r}"
                )
        workers = [self.worker(ref, seat, spec.isolation) for seat, ref in enumerate(spec.agents)]
        self._episodes += 1
        return play_episode(
            env, workers, seed=spec.seed, episode=self._episodes, options=spec.options
        )

    def close(self) -> None:
        """Stop every worker."""
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()
        for env in self._envs.values():
            env.close()
        self._envs.clear()


_cache: WorkerCache | None = None


def init_worker_process() -> None:
    """Set up a pool process: child subreaper and a process-wide :class:`WorkerCache`."""
    global _cache
    become_subreaper.cache_clear()
    become_subreaper()
    _cache = WorkerCache()
    # Pool processes leave through os._exit: a Finalize runs before that, atexit would not.
    multiprocessing.util.Finalize(_cache, _cache.close, exitpriority=10)


def play_one(spec: MatchSpec) -> MatchResult:
    """Play ``spec`` in a pool process set up by :func:`init_worker_process`."""
    assert _cache is not None
    return _cache.play(spec)


def _play_batch(specs: list[MatchSpec]) -> list[MatchResult]:
    assert _cache is not None
    return [_cache.play(spec) for spec in specs]


def _batches(specs: Iterable[MatchSpec], size: int) -> Iterator[list[MatchSpec]]:
    batch: list[MatchSpec] = []
    for spec in specs:
        batch.append(spec)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_matches(
    specs: Iterable[MatchSpec], *, workers: int | None = None, batch: int = 16
) -> Iterator[MatchResult]:
    """Play ``specs`` on ``workers`` processes with warm agents; results in input order.

    ``workers=1`` plays in this process (no pool), which is also what tests use.
    """
    count = workers or os.cpu_count() or 1
    if count == 1:
        cache = WorkerCache()
        try:
            for spec in specs:
                yield cache.play(spec)
        finally:
            cache.close()
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(count, mp_context=context, initializer=init_worker_process) as pool:
        for results in pool.map(_play_batch, _batches(specs, batch)):
            yield from results
