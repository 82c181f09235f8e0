"""Executors: the local process pool (warm, crash-tolerant) and Ray."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devspark.arena.executors import LocalExecutor, make_executor
from devspark.arena.match import MatchSpec
from devspark.arena.pool import play_one, run_matches
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.core.results import MatchResult
from devspark.sandbox import IsolationLevel

CRASH_MARKER = "DEVSPARK_TEST_CRASH_MARKER"


def specs(count: int, level: IsolationLevel = IsolationLevel.SANDBOX) -> list[MatchSpec]:
    return [
        MatchSpec("tictactoe", ("builtin:random", "builtin:minimax"), seed=i, isolation=level)
        for i in range(count)
    ]


def summary(results: list[MatchResult]) -> list[tuple[int, float, float, int]]:
    return [(r.seed, r.agents[0].reward, r.agents[1].reward, r.steps) for r in results]


def crash_once_at_seed_3(spec: MatchSpec) -> MatchResult:
    """Kill the pool process the first time seed 3 is played (a marker file says when)."""
    marker = Path(os.environ[CRASH_MARKER])
    if spec.seed == 3 and not marker.exists():
        marker.write_text("crashed")
        os._exit(9)
    return play_one(spec)


def always_crash_at_seed_1(spec: MatchSpec) -> MatchResult:
    if spec.seed == 1:
        os._exit(9)
    return play_one(spec)


@pytest.mark.integration
def test_local_executor_matches_the_sequential_results_in_order() -> None:
    expected = summary(list(run_matches(specs(12), workers=1)))
    with LocalExecutor(workers=2) as executor:
        first = summary(list(executor.map(specs(12))))
        again = summary(list(executor.map(specs(12))))  # the same warm pool, a second batch
    assert first == expected and again == expected


@pytest.mark.integration
def test_a_worker_crash_loses_only_its_match_which_is_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CRASH_MARKER, str(tmp_path / "marker"))
    expected = summary(list(run_matches(specs(8), workers=1)))
    with LocalExecutor(workers=2, play=crash_once_at_seed_3) as executor:
        results = summary(list(executor.map(specs(8))))
        assert executor.restarts == 1
    assert (tmp_path / "marker").read_text() == "crashed"
    assert results == expected


@pytest.mark.integration
def test_a_match_that_always_kills_its_worker_is_reported() -> None:
    with (
        LocalExecutor(workers=2, play=always_crash_at_seed_1) as executor,
        pytest.raises(FailedPreconditionError, match="took its worker process down 3 times"),
    ):
        list(executor.map(specs(3, IsolationLevel.TRUSTED)))


def test_one_worker_plays_in_process() -> None:
    with LocalExecutor(workers=1) as executor:
        results = list(executor.map(specs(3, IsolationLevel.TRUSTED)))
    assert [r.seed for r in results] == [0, 1, 2]


def test_make_executor_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSPARK_EXECUTOR", "local")
    executor = make_executor(workers=1)
    assert isinstance(executor, LocalExecutor)
    executor.close()
    monkeypatch.setenv("DEVSPARK_EXECUTOR", "slurm")
    with pytest.raises(InvalidArgumentError, match="'slurm' is not one of: local, ray"):
        make_executor()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """One local Ray instance for this module (it takes seconds to start)."""
    ray = pytest.importorskip("ray", reason="the Ray extra is not installed")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.integration
def test_ray_executor_plays_the_same_matches(
    ray_cluster: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVSPARK_EXECUTOR", "ray")
    expected = summary(list(run_matches(specs(10), workers=1)))
    executor = make_executor(workers=2)
    try:
        assert type(executor).__name__ == "RayExecutor"
        assert summary(list(executor.map(specs(10)))) == expected
    finally:
        executor.close()
