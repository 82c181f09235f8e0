"""The foraging baselines: random < foraging-greedy < foraging-coordinated, on team return."""

import random
import statistics
from types import SimpleNamespace
from typing import Any

import builtin_agent_helpers as helpers
import pytest
from scipy import stats

from devspark.sandbox import IsolationLevel
from devspark.scenarios.foraging import Foraging

NAMES = ["foraging-greedy", "foraging-coordinated"]


greedy = helpers.load_agent("foraging-greedy")
coordinated = helpers.load_agent("foraging-coordinated")


def context(env: Foraging, agent: str, rng: random.Random) -> SimpleNamespace:
    """``agent``'s context now: its legal actions, its seat and ``rng``."""
    return helpers.agent_context(env.legal_actions(agent), rng, role=agent)


def arrange(
    env: Foraging, agents: list[tuple[int, int, int]], food: list[tuple[int, int, int]]
) -> None:
    """Place agents and food ``(row, col, level)`` by hand."""
    env._levels = [level for _, _, level in agents]
    env._positions = [(r, c) for r, c, _ in agents]
    env._food = [[r, c, f, 0] for r, c, f in food]
    env._food_at = {(r, c): i for i, (r, c, _) in enumerate(food)}
    env._food_total = sum(f for _, _, f in food)


def play_round(env: Foraging, players: dict[str, Any], rngs: dict[str, random.Random]) -> None:
    """One round as the match runner plays it (JSON observations, legality checked)."""
    actions = {}
    for agent in env.agents:
        actions[agent] = helpers.runner_move(
            env, agent, players[agent], context(env, agent, rngs[agent])
        )
    env.step(actions)


def team_returns(
    name: str, copies: int, difficulty: int, seeds: range, level: IsolationLevel
) -> list[float]:
    """The team's summed return per seed, ``copies`` of ``name`` playing together."""
    lineup = (f"builtin:{name}",) * copies
    specs = helpers.seeded_specs("foraging", lineup, seeds, difficulty=difficulty, isolation=level)
    results = helpers.play_matches(specs)
    return [sum(a.reward for a in r.agents) for r in results]


@pytest.mark.parametrize("name", NAMES)
def test_manifest(name: str) -> None:
    helpers.assert_standard_manifest(name, scenarios=["foraging"])


@helpers.needs_system_python
@pytest.mark.parametrize("name", NAMES)
def test_agents_import_on_the_sandbox_interpreter(name: str) -> None:
    helpers.assert_imports_on_the_sandbox_interpreter(
        [name],
        check="assert callable(getattr(module, 'act', None)) or callable(module.Agent().act)",
    )


def test_greedy_loads_food_it_lifts_and_walks_to_the_nearest() -> None:
    env = Foraging()
    env.reset(seed=0, options={"difficulty": 2})
    arrange(env, [(2, 1, 2), (6, 6, 1)], [(2, 2, 2), (4, 4, 3)])
    rng = random.Random(0)
    observation = env.observe_json("player_0")
    assert greedy.act(observation, context(env, "player_0", rng)) == {"move": "LOAD", "signal": 0}
    # player_1 (level 1) sees only the heavy item: it walks towards it (N or W).
    moves = {
        greedy.act(env.observe_json("player_1"), context(env, "player_1", rng))["move"]
        for _ in range(20)
    }
    assert moves == {"N", "W"}


def test_greedy_wanders_when_no_food_is_in_view() -> None:
    env = Foraging()
    env.reset(seed=0, options={"difficulty": 5})
    arrange(env, [(0, 0, 1), (13, 13, 1)], [(7, 7, 1)])
    rng = random.Random(1)
    moves = [
        greedy.act(env.observe_json("player_0"), context(env, "player_0", rng))["move"]
        for _ in range(30)
    ]
    assert set(moves) == {"E", "S"}


def test_coordinated_calls_for_help_and_a_teammate_answers() -> None:
    env = Foraging()
    env.reset(seed=0, options={"difficulty": 5})  # 14x14, view radius 2
    arrange(env, [(5, 4, 1), (12, 12, 2)], [(5, 5, 3)])
    players = {agent: coordinated.Agent() for agent in env.agents}
    rngs = {agent: random.Random(agent) for agent in env.agents}
    for player in players.values():
        player.reset({}, None)
    signals = []
    for _ in range(4):  # one radio frame: the caller waits and loads
        play_round(env, players, rngs)
        signals.append(env.observe_json("player_1")["signals"][0])
        assert env.render_state()["moves"][0] == "LOAD"
    # Frame value = 1 + (row - 1) * 12 + (col - 1) = 53 = base 4 digits 0, 3, 1, 1.
    assert signals == [0, 3, 1, 1]
    assert players["player_1"].calls[0] is None
    play_round(env, players, rngs)  # player_1 decodes the frame when it next acts
    assert players["player_1"].calls[0] == (5, 5)
    state = env.render_state()
    while state["result"] == "ongoing":
        play_round(env, players, rngs)
        state = env.render_state()
    assert state["result"] == "collected"
    assert state["step"] < 30
    assert state["scores"] == pytest.approx([1 / 3, 2 / 3])


def test_coordinated_lowest_seated_caller_wins() -> None:
    env = Foraging(num_players=3)
    env.reset(seed=0, options={"difficulty": 5})  # 15x15
    arrange(env, [(2, 1, 1), (12, 11, 1), (7, 14, 1)], [(2, 2, 3), (12, 12, 3)])
    players = {agent: coordinated.Agent() for agent in env.agents}
    rngs = {agent: random.Random(agent) for agent in env.agents}
    for _ in range(4):  # the first frame: both call, player_2 explores
        play_round(env, players, rngs)
    assert [p.calling for p in players.values()] == [(2, 2), (12, 12), None]
    play_round(env, players, rngs)
    # Having heard each other, player_1 leaves its item to help player_0.
    assert players["player_2"].calls == [(2, 2), (12, 12), None]
    assert [p.calling for p in players.values()] == [(2, 2), None, None]
    rounds = 5
    while not env.render_state()["food"][0][3]:
        play_round(env, players, rngs)
        rounds += 1
    assert rounds < 40
    assert env.render_state()["scores"] == pytest.approx([1 / 6] * 3, abs=1e-6)  # all three
    while env.agents:
        play_round(env, players, rngs)
    assert env.render_state()["result"] == "collected"


class Idle:
    """A teammate that never listens: it stays put."""

    def act(self, observation: Any, context: Any) -> dict[str, Any]:
        return {"move": "STAY", "signal": 0}


def test_coordinated_gives_up_on_help_that_never_comes() -> None:
    env = Foraging()
    env.reset(seed=0, options={"difficulty": 5})  # 14x14: patience 28 rounds
    arrange(env, [(5, 4, 1), (12, 12, 2)], [(5, 5, 3), (2, 9, 1)])
    players = {"player_0": coordinated.Agent(), "player_1": Idle()}
    rngs = {agent: random.Random(agent) for agent in env.agents}
    for _ in range(29):
        play_round(env, players, rngs)
        assert env.render_state()["moves"][0] == "LOAD"
    play_round(env, players, rngs)
    assert players["player_0"].tabu == {(5, 5): 29 + 28}  # gave up in round 29
    while env.agents and not env.render_state()["food"][1][3]:
        play_round(env, players, rngs)
    assert env.render_state()["food"][1][3] == 1  # it explored and found the light item
    assert env.render_state()["step"] < 50


@pytest.mark.parametrize("name", NAMES)
def test_agents_are_deterministic_given_the_rng(name: str) -> None:
    def moves(seed: int) -> list[Any]:
        env = Foraging(num_players=3)
        env.reset(seed=5, options={"difficulty": 4})
        module = helpers.load_agent(name)
        players = {a: module if hasattr(module, "act") else module.Agent() for a in env.agents}
        rngs = {agent: random.Random(f"{seed}-{agent}") for agent in env.agents}
        history = []
        while env.agents:
            play_round(env, players, rngs)
            history.append(env.render_state()["moves"])
        return history

    assert moves(1) == moves(1)


def test_strength_order_random_greedy_coordinated() -> None:
    # Difficulty 4: 12x12, 5 items of which 3 are heavy, view radius 3, 80 rounds.
    seeds = range(200)
    by_agent = {
        name: team_returns(name, 2, 4, seeds, IsolationLevel.TRUSTED)
        for name in ("random", "foraging-greedy", "foraging-coordinated")
    }
    rand, heuristic, team = (
        by_agent["random"],
        by_agent["foraging-greedy"],
        by_agent["foraging-coordinated"],
    )
    # Measured means: 0.07, 0.33, 1.00.
    assert statistics.mean(rand) < statistics.mean(heuristic) < statistics.mean(team)
    assert statistics.mean(team) > 0.95
    # Paired by seed (the same instance): one-sided Wilcoxon signed-rank tests.
    assert helpers.paired_p_value(heuristic, rand) < 0.01
    assert helpers.paired_p_value(team, heuristic) < 0.01
    assert stats.mannwhitneyu(team, heuristic, alternative="greater").pvalue < 0.01


def test_coordination_also_wins_in_teams_of_four() -> None:
    seeds = range(40)
    heuristic = team_returns("foraging-greedy", 4, 5, seeds, IsolationLevel.TRUSTED)
    team = team_returns("foraging-coordinated", 4, 5, seeds, IsolationLevel.TRUSTED)
    assert helpers.paired_p_value(team, heuristic) < 0.01


@pytest.mark.integration
@pytest.mark.parametrize("name", ["random", *NAMES])
def test_agents_play_in_the_sandbox(name: str) -> None:
    rewards = team_returns(name, 2, 3, range(2), IsolationLevel.SANDBOX)
    trusted = team_returns(name, 2, 3, range(2), IsolationLevel.TRUSTED)
    assert rewards == trusted  # same moves in the sandbox as in-process
    assert all(0.0 <= r <= 1.0 + 1e-9 for r in rewards)
    if name == "foraging-coordinated":
        assert rewards == pytest.approx([1.0, 1.0])
