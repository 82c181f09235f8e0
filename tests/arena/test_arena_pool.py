"""Batches of matches with warm workers, in this process or over a process pool."""

from __future__ import annotations

import pytest

from devspark.arena.match import MatchSpec, run_match
from devspark.arena.pool import WorkerCache, run_matches
from devspark.core.errors import InvalidArgumentError
from devspark.core.results import AgentStatus, MatchResult
from devspark.sandbox import IsolationLevel


def specs(level: IsolationLevel, count: int = 6) -> list[MatchSpec]:
    pairs = [("builtin:random", "builtin:minimax"), ("builtin:minimax", "builtin:random")]
    return [
        MatchSpec("tictactoe", pairs[i % 2], seed=100 + 7 * i, isolation=level)
        for i in range(count)
    ]


def summary(result: MatchResult) -> tuple[object, ...]:
    return (
        result.seed,
        result.steps,
        tuple((a.agent, str(a.status), a.reward, a.moves) for a in result.agents),
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_input_order(workers: int) -> None:
    batch = specs(IsolationLevel.TRUSTED)
    results = list(run_matches(batch, workers=workers, batch=2))
    assert [r.seed for r in results] == [s.seed for s in batch]
    assert [tuple(a.agent for a in r.agents) for r in results] == [s.agents for s in batch]
    for result in results:
        assert all(a.status is AgentStatus.OK for a in result.agents)


def test_pool_and_local_agree_with_single_matches() -> None:
    batch = specs(IsolationLevel.TRUSTED)
    local = [summary(r) for r in run_matches(batch, workers=1)]
    pooled = [summary(r) for r in run_matches(batch, workers=2, batch=2)]
    single = [summary(run_match(spec)) for spec in batch]
    assert local == pooled == single


@pytest.mark.integration
def test_cache_keeps_sandboxed_workers_warm() -> None:
    cache = WorkerCache()
    try:
        results = [cache.play(spec) for spec in specs(IsolationLevel.SANDBOX, count=4)]
        workers = list(cache._workers.values())
        assert len(workers) == 4  # (agent, seat) pairs: two agents in two seats
        for worker in workers:
            deployments = [t for t in worker.lifecycle.history if t.target == "deploying"]
            assert len(deployments) == 1
    finally:
        cache.close()
    assert all(w.lifecycle.state == "offline" for w in workers)
    for result in results:
        assert all(a.status is AgentStatus.OK for a in result.agents)
        minimax = next(a for a in result.agents if a.agent == "builtin:minimax")
        assert minimax.reward >= 0


def test_a_warm_cache_checks_the_options_of_every_match() -> None:
    cache = WorkerCache()
    try:
        warm = specs(IsolationLevel.TRUSTED, count=1)[0]
        assert all(a.status is AgentStatus.OK for a in cache.play(warm).agents)
        typo = MatchSpec(
            "tictactoe", warm.agents, seed=1, isolation=warm.isolation, options={"dificulty": 1}
        )
        with pytest.raises(InvalidArgumentError, match="did you mean `difficulty`"):
            cache.play(typo)
    finally:
        cache.close()
