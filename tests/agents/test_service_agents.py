"""The built-in service agents: echo, echo-js and connect-four-alphabeta's best_move."""

import random
from types import SimpleNamespace
from typing import Any

import builtin_agent_helpers as helpers
import pytest

from devspark.arena.agents import resolve_agent
from devspark.core.results import AgentStatus
from devspark.sandbox import IsolationLevel, ProcessWorker

alphabeta = helpers.load_agent("connect-four-alphabeta")
FORCED_WIN = [".......", ".......", ".......", ".......", "...O...", "...XX.O"]
"""X to move wins by force in column 2 (the Connect Four agents' tests explain why)."""


def rows_of(picture: list[str]) -> list[list[int]]:
    values = {".": 0, "X": 1, "O": 2}
    return [[values[cell] for cell in row] for row in picture]


def task_context(seed: int = 0) -> SimpleNamespace:
    return SimpleNamespace(rng=random.Random(seed), params={}, time_left_ms=5000.0)


def best_move(payload: Any, seed: int = 0) -> Any:
    task = {"id": "t", "type": "connect_four.best_move", "payload": payload}
    return alphabeta.handle(task, task_context(seed))


@pytest.mark.parametrize("name", ["echo", "echo-js", "connect-four-alphabeta"])
def test_service_manifests(name: str) -> None:
    manifest = resolve_agent(f"builtin:{name}").manifest
    assert manifest.service is not None
    expected = ["connect_four.best_move"] if name.startswith("connect") else ["echo", "echo.slow"]
    assert manifest.service.handles == expected
    assert manifest.service.concurrency == 1
    assert manifest.capabilities == []


@helpers.needs_system_python
def test_echo_imports_on_the_sandbox_interpreter() -> None:
    helpers.assert_imports_on_the_sandbox_interpreter(
        ["echo", "connect-four-alphabeta"], check="assert callable(module.handle)"
    )


def test_best_move_takes_a_list_of_rows_or_the_flat_observation() -> None:
    for seed in range(5):
        answer = best_move({"board": rows_of(FORCED_WIN), "mark": 1}, seed)
        assert answer["column"] == 2
        assert answer["score"] > alphabeta.WIN - 42  # a forced win, seen as such
    flat = [cell for row in rows_of(FORCED_WIN) for cell in row]
    observation = {"board": flat, "rows": 6, "columns": 7, "inarow": 4, "mark": 1}
    assert best_move(observation) == best_move({"board": flat, "mark": 1})
    assert best_move(observation)["column"] == 2


def test_best_move_for_the_other_mark_blocks() -> None:
    # O to move must stop X's three on the bottom row, open at column 4 only.
    answer = best_move({"board": rows_of([*FORCED_WIN[:-1], "OXXX..."]), "mark": 2})
    assert answer["column"] == 4


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ([1, 2], "payload must be an object"),
        ({"board": rows_of(FORCED_WIN), "mark": 3}, "mark must be 1 or 2"),
        ({"board": [[0, 0], [0]], "mark": 1}, "every row of board must have the same length"),
        ({"board": [0] * 41, "mark": 1}, "board must hold 6 x 7 cells"),
        ({"board": [[9] * 7] * 6, "mark": 1}, "board cells must be 0 (empty), 1 or 2"),
        ({"board": [[1] * 7] * 6, "mark": 1}, "the board is full"),
    ],
)
def test_best_move_refuses_bad_payloads(payload: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)")):
        best_move(payload)


@pytest.mark.integration
def test_best_move_served_from_the_sandbox() -> None:
    worker = ProcessWorker(resolve_agent("builtin:connect-four-alphabeta"), seed=3)
    try:
        worker.start()
        task = {"id": "t1", "type": "connect_four.best_move"}
        outcome = worker.serve(
            {**task, "payload": {"board": rows_of(FORCED_WIN), "mark": 1}},
            timeout_ms=5000,
            on_progress=lambda data: None,
            on_request=lambda line: {"ok": False, "error": "unknown target"},
        )
        assert outcome.ok, outcome
        assert outcome.result["column"] == 2
        bad = worker.serve(
            {**task, "id": "t2", "payload": {"board": [], "mark": 1}},
            timeout_ms=5000,
            on_progress=lambda data: None,
            on_request=lambda line: {"ok": False, "error": "unknown target"},
        )
        assert (bad.ok, bad.status) == (False, AgentStatus.OK)
        assert "ValueError: board must hold 6 x 7 cells" in bad.error
        assert worker.level is IsolationLevel.SANDBOX
    finally:
        worker.close()
