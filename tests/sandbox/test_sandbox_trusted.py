"""The in-process ``trusted`` worker (baselines and tests only)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from devspark.arena.agents import resolve_agent
from devspark.core.errors import FailedPreconditionError
from devspark.core.lifecycle import LifecycleState
from devspark.core.results import AgentStatus
from devspark.sandbox import TrustedWorker

S = LifecycleState


def test_trusted_minimax_plays() -> None:
    worker = TrustedWorker(resolve_agent("builtin:minimax"), seed=3)
    assert [t.target for t in worker.lifecycle.history] == [S.DEPLOYING, S.ONLINE]
    worker.reset(episode=0, scenario="tictactoe-v1", role="player_1", seed=3, config={})
    assert worker.lifecycle.state is S.BUSY
    board = {"board": [1, 1, 0, 2, 0, 0, 0, 0, 0], "mark": 2}
    decision = worker.act(0, board, [2, 4, 5, 6, 7, 8])
    assert decision.status is AgentStatus.OK
    assert decision.action == 2  # blocks the row
    usage, log = worker.finish(reward=0.0, status=AgentStatus.OK)
    assert usage.wall_ms > 0
    assert usage.cpu_s >= 0
    assert log.logs == []
    worker.close()
    assert worker.lifecycle.state is S.OFFLINE


def test_trusted_refuses_javascript() -> None:
    with pytest.raises(FailedPreconditionError, match=re.escape("runs Python agents only")):
        TrustedWorker(resolve_agent("builtin:random-js"))


def test_trusted_errors_logs_and_timeouts(make_agent: Callable[..., Path]) -> None:
    folder = make_agent(
        """
        import time

        class Agent:
            def reset(self, config, context):
                context.log(f"reset as {context.role}")

            def act(self, observation, context):
                if observation == "raise":
                    raise KeyError("nope")
                if observation == "slow":
                    time.sleep(0.1)
                return context.params["choice"]
        """,
        name="trusted-agent",
        limits={"move_ms": 50, "overage_ms": 70},
    )
    toml = folder / "agent.toml"
    toml.write_text(
        toml.read_text()
        + '[parameters]\nchoice = { type = "int", low = 0, high = 8, default = 4 }\n'
    )
    worker = TrustedWorker(resolve_agent(str(folder)), params={"choice": 7})
    worker.reset(episode=0, scenario="tictactoe-v1", role="player_0", seed=0, config={})
    assert worker.act(0, "fine", [7]).action == 7
    failed = worker.act(1, "raise", [7])
    assert failed.status is AgentStatus.ERROR
    assert failed.detail == "KeyError: 'nope'"
    assert worker.act(2, "slow", [7]).status is AgentStatus.OK  # ~50 ms over: bank left ~20 ms
    late = worker.act(3, "slow", [7])
    assert late.status is AgentStatus.TIMEOUT
    assert re.fullmatch(r"move took \d+ ms", late.detail)
    _, log = worker.finish(reward=0.0, status=AgentStatus.OK)
    assert log.logs == ["reset as player_0"]
