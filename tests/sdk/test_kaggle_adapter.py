"""The Kaggle adapter (``adapter = "kaggle"``): Kaggle ConnectX submissions, unmodified.

Every behaviour is checked at the ``trusted`` level (the adapter imported in-process)
and in the real sandbox (the runner's ``--adapter=kaggle``), which must agree.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devspark.arena import MatchSpec, resolve_agent, run_match, run_matches
from devspark.core.errors import InvalidArgumentError
from devspark.core.ports import AgentWorker, Decision
from devspark.core.results import AgentStatus
from devspark.sandbox import IsolationLevel, open_worker, unavailable_reason
from devspark.sandbox.launcher import ProcessSpec
from devspark.scenarios.connect_four import ConnectFour
from devspark.sdk.kaggle import KaggleStruct, kaggle_action, kaggle_inputs

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kaggle-connectx"
LEVELS = [
    IsolationLevel.TRUSTED,
    pytest.param(IsolationLevel.SANDBOX, marks=pytest.mark.integration),
]
MakeAgent = Callable[..., Path]

SPY = """
import random

seen = []  # module globals start afresh every episode, as on Kaggle

def helper(obs, config):
    return -1  # not the agent: a function named ``agent`` wins

def agent(obs, config):
    seen.append(obs.step)
    return {
        "attribute": [obs.mark, config.columns, config.rows, config.inarow, obs.step],
        "item": [obs["mark"], config["columns"], len(obs["board"])],
        "board_is_list": type(obs.board).__name__,
        "obs_keys": sorted(obs),
        "config_keys": sorted(config),
        "bank_s": obs.remainingOverageTime,
        "act_timeout": config.actTimeout,
        "timeout": config.timeout,
        "agent_timeout": config.agentTimeout,
        "episode_steps": config.episodeSteps,
        "difficulty": config.difficulty,
        "calls_this_episode": len(seen),
        "struct_class": type(obs).__name__,
    }

def last():
    return 0
"""


@pytest.fixture
def workers() -> Iterator[list[AgentWorker]]:
    started: list[AgentWorker] = []
    yield started
    for worker in started:
        worker.close()


def start(
    workers: list[AgentWorker], folder: Path, level: IsolationLevel, difficulty: int = 1
) -> AgentWorker:
    worker = open_worker(resolve_agent(str(folder)), level, seed=3)
    workers.append(worker)
    worker.reset(
        episode=0,
        scenario="connect_four-v1",
        role="player_0",
        seed=3,
        config={"difficulty": difficulty},
    )
    return worker


def first_move(worker: AgentWorker, difficulty: int = 1, step: int = 0) -> Decision:
    env = ConnectFour()
    env.reset(seed=0, options={"difficulty": difficulty})
    return worker.act(step, env.observe_json("player_0"), env.legal_actions("player_0"))


def kaggle_agent(make_agent: MakeAgent, code: str, name: str = "kaggle-test") -> Path:
    return make_agent(code, name=name, scenarios=("connect_four",), extra={"adapter": "kaggle"})


# ----------------------------------------------------------------- the example


@pytest.mark.parametrize("level", LEVELS)
def test_the_example_submission_plays_unmodified(level: IsolationLevel) -> None:
    assert (EXAMPLE / "main.py").is_file()
    manifest = resolve_agent(str(EXAMPLE)).manifest
    assert (manifest.adapter, manifest.entrypoint) == ("kaggle", "main.py")
    opponent = "builtin:random"
    specs = [
        MatchSpec(
            "connect_four",
            (str(EXAMPLE), opponent) if seed % 2 == 0 else (opponent, str(EXAMPLE)),
            seed=seed,
            options={"difficulty": difficulty},
            isolation=level,
        )
        for difficulty in (1, 5)
        for seed in range(3)
    ]
    wins = 0
    for spec, result in zip(specs, run_matches(specs, workers=1), strict=True):
        mine = result.agents[spec.agents.index(str(EXAMPLE))]
        assert all(agent.status is AgentStatus.OK for agent in result.agents), result
        assert mine.moves > 0
        wins += mine.reward > 0
    assert wins >= 5


@pytest.mark.integration
def test_the_example_agrees_in_the_sandbox_and_in_process() -> None:
    spec = MatchSpec("connect_four", (str(EXAMPLE), "builtin:connect-four-heuristic"), seed=4)
    trusted = run_match(dataclasses.replace(spec, isolation=IsolationLevel.TRUSTED))
    sandboxed = run_match(spec)
    assert [(a.status, a.reward, a.moves) for a in trusted.agents] == [
        (a.status, a.reward, a.moves) for a in sandboxed.agents
    ]


# ----------------------------------------------------------------- translation


@pytest.mark.parametrize("level", LEVELS)
def test_observation_and_configuration_as_kaggle_gives_them(
    make_agent: MakeAgent, workers: list[AgentWorker], level: IsolationLevel
) -> None:
    worker = start(workers, kaggle_agent(make_agent, SPY), level, difficulty=4)
    decision = first_move(worker, difficulty=4, step=0)
    assert decision.status is AgentStatus.OK, decision.detail
    seen = decision.action
    assert seen["attribute"] == [1, 10, 8, 5, 0]
    assert seen["item"] == [1, 10, 80]
    assert seen["board_is_list"] == "list"
    assert seen["obs_keys"] == ["board", "mark", "remainingOverageTime", "step"]
    assert seen["config_keys"] == [
        "actTimeout",
        "agentTimeout",
        "columns",
        "difficulty",
        "episodeSteps",
        "inarow",
        "rows",
        "timeout",
    ]
    assert seen["bank_s"] == 2.0  # the manifest's default overage_ms, untouched so far
    assert (seen["act_timeout"], seen["timeout"], seen["agent_timeout"]) == (0.2, 0.2, 2.0)
    assert (seen["episode_steps"], seen["difficulty"]) == (1000, 4)
    assert seen["struct_class"] == "KaggleStruct"
    second = worker.act(2, first_move_observation(), [0, 1, 2, 3, 4, 5, 6])
    assert (second.action["attribute"][-1], second.action["calls_this_episode"]) == (2, 2)
    worker.finish(reward=0.0, status=AgentStatus.OK)
    worker.reset(
        episode=1, scenario="connect_four-v1", role="player_1", seed=4, config={"difficulty": 1}
    )
    again = worker.act(1, first_move_observation(mark=2), [0, 1, 2, 3, 4, 5, 6])
    assert again.action["calls_this_episode"] == 1  # the file ran afresh
    assert again.action["attribute"][0] == 2


def first_move_observation(mark: int = 1) -> dict[str, Any]:
    env = ConnectFour()
    env.reset(seed=0)
    return env.observe_json("player_0" if mark == 1 else "player_1")


def test_random_is_seeded_from_the_match_seed(
    make_agent: MakeAgent, workers: list[AgentWorker]
) -> None:
    code = "import random\n\ndef agent(obs, config):\n    return random.random()\n"
    folder = kaggle_agent(make_agent, code)
    draws = []
    levels = [IsolationLevel.TRUSTED, IsolationLevel.TRUSTED]
    if unavailable_reason(IsolationLevel.SANDBOX) is None:
        levels.append(IsolationLevel.SANDBOX)
    for level in levels:
        worker = start(workers, folder, level)
        draws.append([first_move(worker).action, first_move(worker, step=2).action])
    assert all(pair == draws[0] for pair in draws)
    assert draws[0][0] != draws[0][1]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("def act(o, c):\n    return 0\n\ndef agent(observation):\n    return 5\n", 5),
        ("def first(o, c):\n    return 1\n\ndef second(o, c):\n    return 2\n", 2),
        (
            "class Player:\n    def __call__(self, obs, conf):\n        return 4\n\nplay = Player()\n",
            4,
        ),
        ("def agent(*args):\n    return len(args)\n", 2),
        ("import random\n\ndef agent(obs, conf):\n    return random.choice([6])\n", 6),
    ],
    ids=["named-agent-one-arg", "last-callable", "callable-object", "varargs", "imports"],
)
def test_which_callable_is_the_agent(
    make_agent: MakeAgent,
    workers: list[AgentWorker],
    level: IsolationLevel,
    code: str,
    expected: int,
) -> None:
    worker = start(workers, kaggle_agent(make_agent, code), level)
    decision = first_move(worker)
    assert (decision.status, decision.action) == (AgentStatus.OK, expected)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("returned", "status"),
    [
        ("legal[0]", AgentStatus.OK),
        ("float(legal[-1])", AgentStatus.OK),
        ("True", AgentStatus.INVALID_ACTION),
        ("3.5", AgentStatus.INVALID_ACTION),
        ("'3'", AgentStatus.INVALID_ACTION),
        ("None", AgentStatus.INVALID_ACTION),
        ("float('nan')", AgentStatus.INVALID_ACTION),
        ("object()", AgentStatus.INVALID_ACTION),
        ("[3]", AgentStatus.INVALID_ACTION),
        ("7", AgentStatus.INVALID_ACTION),
        ("1 // 0", AgentStatus.ERROR),
    ],
)
def test_return_values_and_faults_in_a_match(
    make_agent: MakeAgent, level: IsolationLevel, returned: str, status: AgentStatus
) -> None:
    folder = kaggle_agent(
        make_agent,
        "def agent(obs, config):\n"
        "    legal = [c for c in range(config.columns) if obs.board[c] == 0]\n"
        f"    return {returned}\n",
    )
    result = run_match(
        MatchSpec("connect_four", (str(folder), "builtin:random"), seed=1, isolation=level)
    )
    mine = result.agents[0]
    assert mine.status is status, mine.detail
    if status is AgentStatus.OK:
        assert mine.moves > 0
    else:
        assert (mine.moves, mine.reward, result.agents[1].reward) == (0, -1.0, 1.0)
    if status is AgentStatus.ERROR:
        assert "ZeroDivisionError" in mine.detail


def test_a_file_without_a_callable_is_a_start_fault(make_agent: MakeAgent) -> None:
    folder = kaggle_agent(make_agent, "BOARD = 7\n")
    with pytest.raises(ImportError, match="defines no callable"):
        run_match(
            MatchSpec(
                "connect_four",
                (str(folder), "builtin:random"),
                isolation=IsolationLevel.TRUSTED,
            )
        )


@pytest.mark.integration
def test_a_file_without_a_callable_crashes_at_start_in_the_sandbox(make_agent: MakeAgent) -> None:
    folder = kaggle_agent(make_agent, "BOARD = 7\n")
    result = run_match(MatchSpec("connect_four", (str(folder), "builtin:random")))
    assert result.agents[0].status is AgentStatus.CRASHED
    assert "defines no callable" in result.agents[0].detail


@pytest.mark.integration
def test_the_kaggle_adapter_is_python_only(make_agent: MakeAgent) -> None:
    folder = make_agent(
        "export function act(o, c) { return 0; }\n",
        language="javascript",
        extra={"adapter": "kaggle"},
    )
    with pytest.raises(InvalidArgumentError, match="adapter 'kaggle' needs language 'python'"):
        resolve_agent(str(folder))


def test_the_launcher_passes_the_adapter_to_the_python_runner(tmp_path: Path) -> None:
    spec = ProcessSpec("python", "main.py", tmp_path, tmp_path, tmp_path, adapter="kaggle")
    assert spec.interpreter("/agent", "/sdk", "/deps")[-3:] == [
        "main.py",
        "/deps/site-packages",
        "--adapter=kaggle",
    ]
    native = ProcessSpec("python", "agent.py", tmp_path, tmp_path, tmp_path)
    assert not any(arg.startswith("--") for arg in native.interpreter("/agent", "/sdk", None))


# ----------------------------------------------------------------- units


def test_struct_reads_and_writes_as_attributes_and_items() -> None:
    struct = KaggleStruct(board=[0, 1], mark=1)
    assert (struct.board, struct["mark"]) == ([0, 1], 1)
    struct.step = 3
    assert struct["step"] == 3
    del struct.step
    assert "step" not in struct
    with pytest.raises(AttributeError, match="missing"):
        _ = struct.missing
    with pytest.raises(AttributeError, match="missing"):
        del struct.missing
    assert json.loads(json.dumps(struct)) == {"board": [0, 1], "mark": 1}
    for clone in (copy.deepcopy(struct), pickle.loads(pickle.dumps(struct))):  # noqa: S301
        assert clone == struct and clone.mark == 1


def test_kaggle_inputs_keep_other_scenarios_fields() -> None:
    observation, configuration = kaggle_inputs(
        {"board": [0] * 9, "mark": 2, "nested": {"a": 1}},
        step=4,
        bank_ms=1500,
        config={},
        limits={"move_ms": 1000, "overage_ms": 60_000},
    )
    assert observation == {
        "board": [0] * 9,
        "mark": 2,
        "nested": {"a": 1},
        "step": 4,
        "remainingOverageTime": 1.5,
    }
    assert observation.nested.a == 1
    assert configuration == {
        "actTimeout": 1.0,
        "timeout": 1.0,
        "agentTimeout": 60.0,
        "episodeSteps": 1000,
    }
    plain, _ = kaggle_inputs(7, step=0, bank_ms=0, config={}, limits={})
    assert plain == 7


class Index:
    def __index__(self) -> int:
        return 5


class BadIndex:
    def __index__(self) -> int:
        raise TypeError("no")

    def __repr__(self) -> str:
        return "BadIndex()"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (3.0, 3),
        (-0.0, 0),
        (Index(), 5),
        (True, True),
        (2.5, 2.5),
        ("2", "2"),
        (None, None),
        ([1], [1]),
        (float("inf"), "inf"),
        (float("nan"), "nan"),
        (BadIndex(), "BadIndex()"),
    ],
)
def test_kaggle_action_coercion(value: object, expected: object) -> None:
    coerced = kaggle_action(value)
    assert type(coerced) is type(expected) and coerced == expected
