"""Replays: record, write (JSON or gzip), load, verify and reconstruct states."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from devspark.arena.match import MatchSpec
from devspark.arena.replay import (
    FORMAT,
    KEYFRAME_EVERY,
    Replay,
    ReplayRecorder,
    _diff,
    _patch,
    load_replay,
    record_match,
    verify_replay,
    write_replay,
)
from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.sandbox import IsolationLevel

TRUSTED = IsolationLevel.TRUSTED


def _spec(**changes: Any) -> MatchSpec:
    fields: dict[str, Any] = {
        "scenario": "tictactoe",
        "agents": ("builtin:random", "builtin:minimax"),
        "seed": 11,
        "isolation": TRUSTED,
    }
    return MatchSpec(**{**fields, **changes})


def test_a_replay_holds_the_match_and_its_states() -> None:
    result, replay = record_match(_spec())
    data = replay.data
    assert data["format"] == FORMAT and data["version"] == 1
    assert data["scenario"] == {"id": "tictactoe", "version": 1}
    assert data["seed"] == 11 and data["isolation"] == "trusted"
    assert [a["ref"] for a in data["agents"]] == ["builtin:random", "builtin:minimax"]
    assert all(len(a["sha256"]) == 64 and a["version"] == "1.0.0" for a in data["agents"])
    assert len(replay.steps) == result.steps
    states = list(replay.states())
    assert len(states) == result.steps + 1
    assert states[0]["moves"] == [] and states[-1]["result"] in ("win", "draw")
    played = [step["moves"][0]["action"] for step in replay.steps]
    assert states[-1]["moves"] == played
    final = data["outcome"]["agents"]
    assert [a["reward"] for a in final] == [r.reward for r in result.agents]


@pytest.mark.parametrize("name", ["match.json", "match.json.gz"])
def test_written_replays_load_back_identical(tmp_path: Path, name: str) -> None:
    _, replay = record_match(_spec())
    path = tmp_path / name
    size = write_replay(replay, path)
    assert size == path.stat().st_size
    if name.endswith(".gz"):
        assert gzip.decompress(path.read_bytes())
    assert load_replay(path).data == replay.data


def test_verify_reproduces_a_deterministic_match(tmp_path: Path) -> None:
    _, replay = record_match(
        _spec(scenario="maze", agents=("builtin:maze-greedy",), options={"difficulty": 3})
    )
    write_replay(replay, tmp_path / "maze.json")
    assert verify_replay(load_replay(tmp_path / "maze.json")) == []


def test_verify_reports_a_tampered_action() -> None:
    _, replay = record_match(_spec())
    tampered = json.loads(json.dumps(replay.data))
    first = tampered["steps"][0]["moves"][0]
    first["action"] = (first["action"] + 1) % 9
    differences = verify_replay(Replay(tampered))
    assert differences and "step 0: moves recorded" in differences[0]


def test_verify_reports_a_changed_agent(make_agent: Any) -> None:
    folder = make_agent("def act(observation, context):\n    return context.legal_actions[0]\n")
    _, replay = record_match(_spec(agents=(str(folder), "builtin:random")))
    (folder / "agent.py").write_text(
        "def act(observation, context):\n    return context.legal_actions[-1]\n"
    )
    differences = verify_replay(replay)
    assert any("changed since recording" in line for line in differences)
    assert any("moves recorded" in line for line in differences)


def test_deltas_and_patches_rebuild_every_state() -> None:
    old = {"grid": ["#####", "#..G#", "#@..#", "#...#", "#####", "#####"], "pos": [2, 1], "x": 1}
    new = {"grid": ["#####", "#..G#", "# @.#", "#...#", "#####", "#####"], "pos": [2, 2], "y": 2}
    record = _diff(old, new)
    assert record["patch"] == {"grid": {"2": "# @.#"}}
    assert record["delta"] == {"pos": [2, 2], "y": 2} and record["removed"] == ["x"]
    assert _patch(old, record) == new
    assert old["grid"][2] == "#@..#"  # unchanged


def test_long_episodes_store_keyframes_and_stay_small(tmp_path: Path) -> None:
    recorder = ReplayRecorder()

    class Env:
        rewards = {"player_0": 0.0}
        position = 0

        def render_state(self) -> dict[str, Any]:
            return {"walls": ["#" * 40] * 40, "position": self.position}

    env = Env()
    recorder.start(env)  # type: ignore[arg-type]
    for step in range(2 * KEYFRAME_EVERY + 5):
        env.position = step
        recorder(step, [], env)  # type: ignore[arg-type]
    keyframes = [i for i, s in enumerate(recorder.steps) if "state" in s]
    assert keyframes == [KEYFRAME_EVERY - 1, 2 * KEYFRAME_EVERY - 1]
    assert recorder.steps[5] == {"moves": [], "delta": {"position": 5}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "not JSON or gzip JSON"),
        (b'{"format": "other"}', "not a DevSpark replay"),
        (b'{"format": "devspark-replay", "version": 99}', "format version 99"),
        (b'{"format": "devspark-replay", "version": 1, "scenario": {}}', "'seed'"),
    ],
)
def test_bad_files_are_refused_with_the_reason(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InvalidArgumentError, match=message):
        load_replay(path)


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        load_replay(tmp_path / "nope.json")
