"""Match results: the stable public JSON shape of ``devspark match run --json``."""

from __future__ import annotations

import json

from devspark.core.results import FAULTS, AgentResult, AgentStatus, MatchResult

AGENT_KEYS = {"agent", "status", "reward", "moves", "wall_ms", "cpu_s", "peak_mb"}


def sample() -> MatchResult:
    return MatchResult(
        scenario="tictactoe-v1",
        seed=3,
        agents=[
            AgentResult(
                agent="builtin:minimax",
                role="player_0",
                reward=1.0,
                moves=4,
                wall_ms=12.34567,
                cpu_s=0.0123456,
                peak_mb=5.678,
                logs=["hello"],
                stderr="warning",
            ),
            AgentResult(
                agent="builtin:random",
                role="player_1",
                status=AgentStatus.TIMEOUT,
                reward=-1.0,
                moves=3,
                detail="no reply before the deadline",
            ),
        ],
        steps=8,
        wall_ms=20.0,
    )


def test_public_has_exactly_the_cli_contract_keys() -> None:
    public = sample().public()
    assert set(public) == {"scenario", "seed", "agents"}
    assert public["scenario"] == "tictactoe-v1"
    assert public["seed"] == 3
    assert [set(agent) for agent in public["agents"]] == [AGENT_KEYS, AGENT_KEYS]


def test_public_values_are_plain_json_and_rounded() -> None:
    public = sample().public()
    first, second = public["agents"]
    assert first == {
        "agent": "builtin:minimax",
        "status": "ok",
        "reward": 1.0,
        "moves": 4,
        "wall_ms": 12.346,
        "cpu_s": 0.0123,
        "peak_mb": 5.68,
    }
    assert second["status"] == "timeout"
    assert type(second["status"]) is str
    assert json.loads(json.dumps(public)) == public


def test_to_dict_keeps_details_logs_and_stderr() -> None:
    record = sample().to_dict()
    assert record["steps"] == 8
    assert record["agents"][0]["logs"] == ["hello"]
    assert record["agents"][0]["stderr"] == "warning"
    assert record["agents"][1]["detail"] == "no reply before the deadline"


def test_every_status_but_ok_is_a_fault() -> None:
    assert AgentStatus.OK not in FAULTS
    assert FAULTS | {AgentStatus.OK} == set(AgentStatus)
