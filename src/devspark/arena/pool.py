"""Warm workers and a local multi-process executor for batches of matches.

A :class:`WorkerCache` keeps one warm worker per (agent, seat, isolation, parameter
values) so a run of
matches pays the sandbox start once. :func:`run_matches` spreads match specs over
processes (all cores by default), each with its own cache, and yields results in order.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.util
import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from devspark.arena.agents import resolve_agent
from devspark.arena.match import (
    MatchSpec,
    Move,
    StepRecorder,
    agent_seed,
    make_for,
    play_match,
)
from devspark.arena.replay import ReplayRecorder, replay_document
from devspark.core.isolation import IsolationLevel
from devspark.core.ports import AgentPackage, AgentWorker
from devspark.core.results import MatchResult
from devspark.sandbox import open_worker
from devspark.sandbox.reaper import become_subreaper
from devspark.scenarios import AnyScenario, resolve
from devspark.scenarios.options import check_options


class WorkerCache:
    """Warm workers and scenario instances, reused across matches."""

    def __init__(self) -> None:
        self._workers: dict[tuple[str, int, IsolationLevel, str], AgentWorker] = {}
        self._packages: dict[str, AgentPackage] = {}
        self._envs: dict[tuple[str, int], AnyScenario] = {}
        self._episodes = 0

    def package(self, ref: str, source: str | None = None) -> AgentPackage:
        """Resolve ``ref`` (from ``source`` when given) once."""
        if ref not in self._packages:
            self._packages[ref] = resolve_agent(ref, source=source)
        return self._packages[ref]

    def worker(
        self,
        ref: str,
        seat: int,
        level: IsolationLevel,
        params: Mapping[str, Any] | None = None,
    ) -> AgentWorker:
        """The warm worker for ``ref`` in ``seat`` playing with ``params`` (started on first use).

        Workers are keyed on the parameter values too: one started with other values
        (or with the defaults, ``None``) is never reused for these.
        """
        values = dict(params) if params is not None else None
        key = (ref, seat, level, json.dumps(values, sort_keys=True, default=repr))
        if key not in self._workers:
            self._workers[key] = open_worker(
                self.package(ref), level, seed=agent_seed(0, seat), params=values
            )
        return self._workers[key]

    def play(self, spec: MatchSpec, *, recorder: StepRecorder | None = None) -> MatchResult:
        """Play one match with warm workers (through :func:`~devspark.arena.match.play_match`).

        Args:
            spec: The match; with ``spec.record`` the result carries its replay.
            recorder: Also sees every step (live events), in this thread.

        Returns:
            The result, with its replay when ``spec.record`` is set.

        Raises:
            NotFoundError: Unknown scenario or agent.
            InvalidArgumentError: An agent does not play the scenario, the seat count
                does not fit, or the scenario refuses the options (checked every match).

        """
        key = (spec.scenario, len(spec.agents))
        env = self._envs.get(key)
        if env is None:
            env = self._envs[key] = make_for(spec)
        else:  # a warm scenario was checked with the options of its first match only
            check_options(resolve(spec.scenario), spec.options)
        packages = [self.package(ref, spec.source(seat)) for seat, ref in enumerate(spec.agents)]
        self._episodes += 1
        replay = ReplayRecorder() if spec.record else None
        result = play_match(
            spec,
            env,
            packages,
            lambda seat, _package: self.worker(
                spec.agents[seat], seat, spec.isolation, spec.seat_params(seat)
            ),
            episode=self._episodes,
            recorder=_tee(replay, recorder),
        )
        if replay is not None:
            result.replay = replay_document(spec, result, replay, packages)
        return result

    def close(self) -> None:
        """Stop every worker."""
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()
        for env in self._envs.values():
            env.close()
        self._envs.clear()


class _Tee:
    """Two step recorders as one."""

    def __init__(self, first: StepRecorder, second: StepRecorder) -> None:
        self.first, self.second = first, second

    def start(self, env: AnyScenario) -> None:
        self.first.start(env)
        self.second.start(env)

    def __call__(self, step: int, moves: list[Move], env: AnyScenario) -> None:
        self.first(step, moves, env)
        self.second(step, moves, env)


def _tee(first: StepRecorder | None, second: StepRecorder | None) -> StepRecorder | None:
    if first is None or second is None:
        return first or second
    return _Tee(first, second)


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
