"""Talking matters: a foraging team that shares its map over the bus beats itself unheard."""

import random
import shutil
import statistics
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import builtin_agent_helpers as helpers
import pytest
from scipy import stats
from test_foraging_agents import arrange

from devspark.core.results import MatchResult
from devspark.sandbox import IsolationLevel
from devspark.scenarios.foraging import Foraging

NAME = "foraging-bus"
GRANTS = ["bus:publish:team.*", "bus:subscribe:team.*"]
bus_agent = helpers.load_agent(NAME)


def unheard_copy(tmp_path: Path) -> str:
    """The same agent folder with no capabilities: every publish is refused."""
    folder = tmp_path / f"{NAME}-unheard"
    shutil.copytree(helpers.AGENTS / NAME, folder)
    manifest = folder / "agent.toml"
    text = manifest.read_text()
    granted = f"capabilities = {GRANTS!r}".replace("'", '"')
    assert granted in text
    manifest.write_text(text.replace(granted, "capabilities = []"))
    return str(folder)


def team_play(
    ref: str, copies: int, difficulty: int, seeds: range, level: IsolationLevel
) -> list[MatchResult]:
    specs = helpers.seeded_specs(
        "foraging", (ref,) * copies, seeds, difficulty=difficulty, isolation=level
    )
    return helpers.play_matches(specs)


def team_return(result: MatchResult) -> float:
    return sum(agent.reward for agent in result.agents)


def test_manifest_grants_the_team_channels() -> None:
    manifest = tomllib.loads((helpers.AGENTS / NAME / "agent.toml").read_text())
    assert manifest["capabilities"] == GRANTS
    assert manifest["limits"] == helpers.STANDARD_LIMITS
    assert manifest["scenarios"] == ["foraging"]


@helpers.needs_system_python
def test_agent_imports_on_the_sandbox_interpreter() -> None:
    helpers.assert_imports_on_the_sandbox_interpreter(
        [NAME], check="assert callable(module.Agent().act)"
    )


def bus_context(env: Foraging, agent: str, messages: list[dict[str, Any]]) -> SimpleNamespace:
    """A runner-like context that keeps what the agent publishes."""
    context = helpers.agent_context(env.legal_actions(agent), random.Random(agent), role=agent)
    context.messages = messages
    context.sent = []
    context.publish = lambda channel, payload: context.sent.append((channel, payload))
    return context


def test_a_call_for_help_on_the_bus_brings_the_teammate() -> None:
    env = Foraging()
    env.reset(seed=0, options={"difficulty": 5})  # 14x14, view radius 2
    arrange(env, [(5, 4, 1), (12, 12, 2)], [(5, 5, 3)])
    caller, helper = bus_agent.Agent(), bus_agent.Agent()
    told = bus_context(env, "player_0", [])
    assert caller.act(env.observe_json("player_0"), told)["move"] == "LOAD"
    [(channel, report)] = told.sent
    assert channel == "team.forage"
    assert report == {"me": 0, "step": 0, "at": [5, 4], "food": [[5, 5, 3]], "call": [5, 5]}

    helper.act(env.observe_json("player_1"), bus_context(env, "player_1", []))
    assert helper.food == {} and helper.calls == {}  # out of view, nothing heard: exploring
    heard = bus_context(
        env, "player_1", [{"sender": "player_0", "channel": channel, "payload": report}]
    )
    helper.act(env.observe_json("player_1"), heard)
    assert helper.food == {(5, 5): 3} and helper.calls == {0: (5, 5)}
    assert heard.sent[0][1]["call"] is None  # it comes to help, it does not call


def test_teams_that_talk_over_the_bus_beat_the_same_agents_unheard(tmp_path: Path) -> None:
    # Difficulty 4: 12x12, 5 items of which 3 are heavy (two agents must load together).
    seeds = range(40)
    talking = team_play(f"builtin:{NAME}", 2, 4, seeds, IsolationLevel.TRUSTED)
    unheard = team_play(unheard_copy(tmp_path), 2, 4, seeds, IsolationLevel.TRUSTED)
    assert all(a.messages_sent > 0 and a.messages_refused == 0 for r in talking for a in r.agents)
    assert all(a.messages_sent == 0 and a.messages_refused > 0 for r in unheard for a in r.agents)
    with_bus, without = [team_return(r) for r in talking], [team_return(r) for r in unheard]
    # Measured means: 1.00 talking, 0.68 unheard.
    assert statistics.mean(with_bus) > 0.95 > statistics.mean(without) + 0.2
    assert helpers.paired_p_value(with_bus, without) < 0.01  # paired by seed
    assert stats.mannwhitneyu(with_bus, without, alternative="greater").pvalue < 0.01


def test_talking_also_wins_in_teams_of_four(tmp_path: Path) -> None:
    seeds = range(16)
    talking = team_play(f"builtin:{NAME}", 4, 5, seeds, IsolationLevel.TRUSTED)
    unheard = team_play(unheard_copy(tmp_path), 4, 5, seeds, IsolationLevel.TRUSTED)
    assert (
        helpers.paired_p_value([team_return(r) for r in talking], [team_return(r) for r in unheard])
        < 0.01
    )


@pytest.mark.integration
def test_the_team_talks_the_same_in_the_sandbox() -> None:
    sandboxed = team_play(f"builtin:{NAME}", 2, 3, range(2), IsolationLevel.SANDBOX)
    trusted = team_play(f"builtin:{NAME}", 2, 3, range(2), IsolationLevel.TRUSTED)
    assert [team_return(r) for r in sandboxed] == [team_return(r) for r in trusted]
    assert [a.messages_sent for r in sandboxed for a in r.agents] == [
        a.messages_sent for r in trusted for a in r.agents
    ]
    assert all(a.messages_sent > 0 for r in sandboxed for a in r.agents)
