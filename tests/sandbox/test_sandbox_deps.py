"""Per-version Python requirements, installed with uv once per content hash."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devspark.arena.agents import resolve_agent
from devspark.core.results import AgentStatus
from devspark.sandbox import IsolationLevel, open_worker
from devspark.sandbox.deps import build_deps, deps_key
from devspark.sandbox.staging import runtime_dir


def test_deps_key_ignores_order_duplicates_and_spaces() -> None:
    key = deps_key(["six==1.16.0", "attrs"])
    assert key == deps_key(["attrs", " six==1.16.0", "attrs"])
    assert key != deps_key(["six==1.17.0", "attrs"])


@pytest.mark.integration
def test_agent_with_requirements_runs_in_the_sandbox(make_agent: Callable[..., Path]) -> None:
    folder = make_agent(
        """
        import six

        def act(observation, context):
            context.log(six.__version__)
            return context.legal_actions[0]
        """,
        name="needs-six",
        extra={"requirements": ["six==1.16.0"]},
    )
    worker = open_worker(resolve_agent(str(folder)), IsolationLevel.SANDBOX)
    try:
        worker.reset(episode=0, scenario="tictactoe-v1", role="player_0", seed=0, config={})
        decision = worker.act(0, {"board": [0] * 9, "mark": 1}, [4, 5])
        assert decision.status is AgentStatus.OK, decision.detail
        assert decision.action == 4
        _, log = worker.finish(reward=0.0, status=AgentStatus.OK)
        assert log.logs == ["1.16.0"]
    finally:
        worker.close()

    started = time.monotonic()
    cached = build_deps(["six==1.16.0"])
    assert time.monotonic() - started < 0.5  # the environment is cached by hash
    assert cached == runtime_dir() / "venvs" / deps_key(["six==1.16.0"])
    assert (cached / "site-packages" / "six.py").is_file()
