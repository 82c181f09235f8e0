import itertools
import json
import random
import warnings
from typing import Any

import pytest
import scenario_helpers as helpers

from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.scenarios import make
from devspark.scenarios.foraging import (
    LEVELS,
    MAX_SIDE,
    MOVES,
    Foraging,
    ForagingLevel,
    generate,
)
from devspark.testing.check_scenario import check_scenario

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pettingzoo.test import parallel_api_test, parallel_seed_test


def new_env(num_players: int = 2, difficulty: int = 1, seed: int = 0) -> Foraging:
    env = Foraging(num_players=num_players)
    env.reset(seed=seed, options={"difficulty": difficulty})
    return env


def arrange(
    env: Foraging,
    agents: list[tuple[int, int, int]],
    food: list[tuple[int, int, int]],
) -> None:
    """Place agents ``(row, col, level)`` and food ``(row, col, level)`` by hand."""
    assert len(agents) == len(env.possible_agents)
    env._levels = [level for _, _, level in agents]
    env._positions = [(r, c) for r, c, _ in agents]
    env._food = [[r, c, f, 0] for r, c, f in food]
    env._food_at = {(r, c): i for i, (r, c, _) in enumerate(food)}
    env._food_total = sum(f for _, _, f in food)


def act(move: str, signal: int = 0) -> dict[str, Any]:
    return {"move": move, "signal": signal}


def test_identity() -> None:
    helpers.assert_identity(
        Foraging, "foraging-v1", ("collaboration",), (2, 4), (1, 2, 3, 4, 5), parallel=True
    )
    env = make("foraging")
    assert type(env) is Foraging and type(make("foraging-v1")) is Foraging
    assert env.possible_agents == ["player_0", "player_1"]  # the minimum by default
    assert make("foraging", num_players=4).possible_agents == [f"player_{i}" for i in range(4)]
    for difficulty, level in LEVELS.items():
        game = make("foraging", difficulty=difficulty, num_players=3)
        game.reset(seed=0)
        state = game.render_state()
        assert state["size"] == level.side + 1  # one more cell per player beyond two
        assert (state["view_radius"], state["step_limit"]) == (level.view_radius, level.step_limit)
        assert len(state["food"]) == level.food and len(state["agents"]) == 3
    with pytest.raises(InvalidArgumentError, match=r"difficulty=0 .* one of \[1, 2, 3, 4, 5\]"):
        make("foraging", difficulty=0)
    # The seed draws the map: the same seed gives the same map, others other maps.
    maps = [_initial_state(seed) for seed in (1, 1, 2, 3)]
    assert maps[0] == maps[1] and maps[0] != maps[2] and maps[2] != maps[3]


def _initial_state(seed: int) -> dict[str, Any]:
    env = make("foraging")
    env.reset(seed=seed)
    state: dict[str, Any] = env.render_state()
    return state


@pytest.mark.parametrize("num_players", [2, 3, 4])
def test_num_players_seats_the_team(num_players: int) -> None:
    env = new_env(num_players)
    assert env.agents == [f"player_{i}" for i in range(num_players)]
    observation = env.observe_json("player_0")
    assert len(observation["levels"]) == len(observation["signals"]) == num_players


@pytest.mark.parametrize("num_players", [1, 5, "2", True])
def test_num_players_out_of_range(num_players: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="num_players="):
        Foraging(num_players=num_players)


def test_unknown_difficulty_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="difficulty=6"):
        Foraging().reset(seed=0, options={"difficulty": 6})


def test_generation_is_deterministic() -> None:
    first = new_env(3, 4, seed=11).render_state()
    assert new_env(3, 4, seed=11).render_state() == first
    others = [new_env(3, 4, seed=seed).render_state() for seed in range(12, 20)]
    assert all(state != first for state in others)


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("num_players", [2, 3, 4])
def test_instances_are_solvable_and_follow_the_table(difficulty: int, num_players: int) -> None:
    level = LEVELS[difficulty]
    for seed in range(40):
        instance = generate(random.Random(seed), level, num_players)
        side = level.side + num_players - 2
        assert instance.side == side <= MAX_SIDE
        strongest, team = max(instance.levels), sum(instance.levels)
        assert all(1 <= lv <= 3 for lv in instance.levels)
        assert len(instance.food) == level.food
        assert sum(f > strongest for _, _, f in instance.food) == level.heavy
        assert all(1 <= f <= team for _, _, f in instance.food)  # the team lifts every item
        cells = [(r, c) for r, c, _ in instance.food]
        assert all(0 < r < side - 1 and 0 < c < side - 1 for r, c in cells)  # off the border
        for i, (r, c) in enumerate(cells):  # so every item has four free neighbours
            assert all(max(abs(r - r2), abs(c - c2)) >= 2 for r2, c2 in cells[i + 1 :])
        assert len(set(instance.agents)) == num_players
        assert not set(instance.agents) & set(cells)
        assert all(0 <= r < side and 0 <= c < side for r, c in instance.agents)


def test_difficulty_scales_every_parameter() -> None:
    levels = [LEVELS[d] for d in (1, 2, 3, 4, 5)]
    for easier, harder in itertools.pairwise(levels):
        assert harder.side > easier.side
        assert harder.food > easier.food
        assert harder.heavy > easier.heavy
        assert harder.view_radius <= easier.view_radius
        assert harder.step_limit > easier.step_limit
    assert levels[0].heavy == 0 and levels[0].view_radius >= levels[0].side + 1  # all in view
    assert levels[-1].heavy / levels[-1].food > 0.5
    observations = [new_env(2, d).observe_json("player_0") for d in (1, 5)]
    assert [o["size"] for o in observations] == [6, 14]
    assert [o["view_radius"] for o in observations] == [7, 2]
    assert [o["step_limit"] for o in observations] == [25, 100]


def test_heavy_food_needs_two_agents() -> None:
    env = new_env()
    arrange(env, agents=[(2, 1, 1), (2, 3, 2)], food=[(2, 2, 3), (4, 4, 1)])
    env.step({"player_0": act("LOAD"), "player_1": act("STAY")})
    assert env.rewards == {"player_0": 0.0, "player_1": 0.0}
    env.step({"player_0": act("STAY"), "player_1": act("LOAD")})  # level 2 < 3 alone
    assert env.render_state()["food"][0] == [2, 2, 3, 0]
    assert env.observe_json("player_0")["food_left"] == 2
    env.step({"player_0": act("LOAD"), "player_1": act("LOAD")})
    assert env.render_state()["food"][0] == [2, 2, 3, 1]
    # Each loader gets f * l / (L * F): 3 * 1 / (3 * 4) and 3 * 2 / (3 * 4).
    assert env.rewards == pytest.approx({"player_0": 0.25, "player_1": 0.5})
    assert env.observe_json("player_0")["food_left"] == 1
    assert env.agents == ["player_0", "player_1"]


def test_only_adjacent_loaders_count() -> None:
    env = new_env()
    # player_1 is diagonal to the food: not adjacent, LOAD is illegal and does not help.
    arrange(env, agents=[(2, 1, 2), (1, 3, 3)], food=[(2, 2, 3), (4, 4, 1)])
    assert not env.is_legal("player_1", act("LOAD"))
    assert "LOAD" not in {a["move"] for a in env.legal_actions("player_1")}
    env.step({"player_0": act("LOAD"), "player_1": 23})  # 23 is LOAD, signal 3
    assert env.render_state()["food"][0][3] == 0
    assert env.render_state()["moves"] == ["LOAD", "STAY"]
    assert env.render_state()["signals"] == [0, 3]


def test_a_strong_agent_lifts_alone_and_the_episode_terminates() -> None:
    env = new_env()
    arrange(env, agents=[(2, 1, 3), (0, 0, 1)], food=[(2, 2, 3)])
    observations, rewards, terminations, truncations, _ = env.step(
        {"player_0": act("LOAD"), "player_1": act("STAY")}
    )
    assert rewards == {"player_0": 1.0, "player_1": 0.0}
    assert terminations == {"player_0": True, "player_1": True}
    assert truncations == {"player_0": False, "player_1": False}
    assert set(observations) == {"player_0", "player_1"}
    assert env.agents == []
    assert env.render_state()["result"] == "collected"
    assert env.legal_actions("player_0") == []
    assert not env.is_legal("player_0", act("STAY"))
    with pytest.raises(FailedPreconditionError, match="episode is over"):
        env.step({})


def test_shared_reward_sums_to_one_when_everything_is_collected() -> None:
    env = new_env(3)
    arrange(
        env,
        agents=[(1, 0, 1), (1, 2, 2), (3, 0, 3)],
        food=[(1, 1, 3), (3, 1, 2)],
    )
    env.step({"player_0": act("LOAD"), "player_1": act("LOAD"), "player_2": act("STAY")})
    env.step({"player_0": act("STAY"), "player_1": act("STAY"), "player_2": act("LOAD")})
    scores = env.render_state()["scores"]
    assert sum(scores) == pytest.approx(1.0)
    assert scores == pytest.approx([0.2, 0.4, 0.4])
    assert env.agents == []


def test_moves_and_collisions() -> None:
    env = new_env()
    arrange(env, agents=[(1, 1, 1), (1, 3, 1)], food=[(3, 3, 1)])
    assert [a["move"] for a in env.legal_actions("player_0")[::4]] == ["N", "E", "S", "W", "STAY"]
    assert len(env.legal_actions("player_0")) == 20
    env.step({"player_0": act("E"), "player_1": act("W")})  # both into (1, 2): nobody moves
    assert env.render_state()["agents"] == [[1, 1, 1], [1, 3, 1]]
    env.step({"player_0": act("N"), "player_1": act("S")})
    assert env.render_state()["agents"] == [[0, 1, 1], [2, 3, 1]]
    # Into food, off the grid, into an agent's cell: illegal on the wire.
    assert not env.is_legal("player_1", act("S"))  # food at (3, 3)
    assert not env.is_legal("player_0", act("N"))  # row -1
    arrange(env, agents=[(1, 1, 1), (1, 2, 1)], food=[(3, 3, 1)])
    assert not env.is_legal("player_0", act("E"))
    # An illegal action of the PettingZoo space acts as STAY and keeps its signal.
    env.step({"player_0": MOVES.index("E") * 4 + 2, "player_1": act("STAY", 1)})
    assert env.render_state()["agents"][0] == [1, 1, 1]
    assert env.render_state()["moves"] == ["STAY", "STAY"]
    assert env.render_state()["signals"] == [2, 1]


def test_signals_reach_every_agent_even_out_of_view() -> None:
    env = new_env(3, difficulty=5)
    arrange(
        env,
        agents=[(0, 0, 1), (13, 13, 1), (0, 13, 1)],
        food=[(7, 7, 1), (10, 3, 2)],
    )
    assert env.observe_json("player_0")["signals"] == [0, 0, 0]
    env.step({"player_0": act("STAY", 1), "player_1": act("STAY", 3), "player_2": act("STAY", 2)})
    for agent in env.possible_agents:
        observation = env.observe_json(agent)
        assert observation["signals"] == [1, 3, 2]
        assert sum(position is not None for position in observation["positions"]) == 1
        assert env.observe(agent)["signals"].tolist() == [1, 3, 2]


def test_view_radius_masks_food_and_agents() -> None:
    env = new_env(2, difficulty=5)  # radius 2
    arrange(env, agents=[(5, 5, 1), (5, 7, 2)], food=[(3, 3, 1), (8, 5, 2), (5, 9, 3)])
    assert env.observe_json("player_0") == {
        "me": 0,
        "size": 14,
        "view_radius": 2,
        "step": 0,
        "step_limit": 100,
        "levels": [1, 2],
        "positions": [[5, 5], [5, 7]],
        "signals": [0, 0],
        "food": [[3, 3, 1]],
        "food_left": 3,
    }
    seen_by_1 = env.observe_json("player_1")
    assert seen_by_1["food"] == [[5, 9, 3]]
    assert seen_by_1["me"] == 1
    grid = env.observe("player_0")["grid"]
    assert grid[0].sum() == 25  # the 5x5 window
    assert grid[1].sum() == 1  # only the item at (3, 3)
    assert grid[1, 3, 3] == 1 and grid[1, 8, 5] == 0
    assert grid[2, 5, 5] == 1 and grid[2, 5, 7] == 2
    assert grid[3].sum() == 1 and grid[3, 5, 5] == 1
    corner = new_env(2, difficulty=5)
    arrange(corner, agents=[(0, 0, 1), (13, 13, 1)], food=[(7, 7, 1)])
    assert corner.observe("player_0")["grid"][0].sum() == 9  # clipped at the border
    assert corner.observe_json("player_0")["positions"] == [[0, 0], None]


def test_truncation_at_the_step_limit() -> None:
    env = new_env(2, difficulty=2)
    limit = LEVELS[2].step_limit
    for _ in range(limit - 1):
        _, _, terminations, truncations, _ = env.step(
            {"player_0": act("STAY"), "player_1": act("STAY")}
        )
        assert not any(terminations.values()) and not any(truncations.values())
    _, _, terminations, truncations, _ = env.step({"player_0": 16, "player_1": 16})
    assert truncations == {"player_0": True, "player_1": True}
    assert terminations == {"player_0": False, "player_1": False}
    assert env.agents == []
    state = env.render_state()
    assert (state["result"], state["step"], state["scores"]) == ("truncated", limit, [0.0, 0.0])


def test_forfeit_all_with_one_faulting_agent() -> None:
    env = new_env(3)
    arrange(env, agents=[(2, 1, 3), (0, 0, 1), (4, 4, 1)], food=[(2, 2, 1), (1, 4, 3)])
    env.step({"player_0": act("LOAD"), "player_1": act("STAY"), "player_2": act("STAY")})
    assert env.rewards["player_0"] == pytest.approx(0.25)
    env.forfeit_all({"player_1": "timeout"})
    assert env.rewards == {"player_0": 0.0, "player_1": -1.0, "player_2": 0.0}
    assert env.agents == []
    state = env.render_state()
    assert state["result"] == "forfeit"
    assert state["faults"] == {"player_1": "timeout"}
    assert state["scores"] == [0.25, -1.0, 0.0]
    env.forfeit_all({"player_2": "crashed"})  # a no-op once over
    assert env.render_state()["faults"] == {"player_1": "timeout"}


def test_forfeit_all_with_several_faulting_agents() -> None:
    env = new_env(4)
    arrange(
        env,
        agents=[(2, 1, 3), (0, 0, 1), (4, 4, 1), (5, 5, 2)],
        food=[(2, 2, 1), (1, 4, 3)],
    )
    env.step({agent: act("LOAD" if agent == "player_0" else "STAY") for agent in env.agents})
    env.forfeit_all({"player_0": "invalid_action", "player_3": "error"})
    # The faulting loader loses what it earned: every faulting agent ends at -1.
    assert env.rewards == pytest.approx(
        {"player_0": -1.25, "player_1": 0.0, "player_2": 0.0, "player_3": -1.0}
    )
    assert env.render_state()["scores"] == [-1.0, 0.0, 0.0, -1.0]
    assert "fault invalid_action" in env.render()


def test_forfeit_validates_its_arguments() -> None:
    env = new_env()
    with pytest.raises(InvalidArgumentError, match="status='late'"):
        env.forfeit("player_0", "late")
    with pytest.raises(InvalidArgumentError, match="agent='player_9'"):
        env.forfeit_all({"player_9": "timeout"})
    env.forfeit("player_1", "crashed")
    assert env.render_state()["scores"] == [0.0, -1.0]


@pytest.mark.parametrize(
    "action",
    [
        "N",
        "STAY",
        {"move": "STAY"},
        {"move": "STAY", "signal": 4},
        {"move": "STAY", "signal": -1},
        {"move": "STAY", "signal": True},
        {"move": "STAY", "signal": 1.0},
        {"move": "STAY", "signal": "1"},
        {"move": "stay", "signal": 0},
        {"move": ["STAY"], "signal": 0},
        {"move": "STAY", "signal": 0, "extra": 1},
        {"move": "FLY", "signal": 0},
        4,
        16,
        None,
        [],
        {},
    ],
)
def test_is_legal_refuses_malformed_actions(action: Any) -> None:
    env = new_env()
    assert env.is_legal("player_0", {"move": "STAY", "signal": 3})
    assert not env.is_legal("player_0", action)


def test_is_legal_refuses_unknown_agents() -> None:
    env = new_env()
    assert not env.is_legal("player_2", act("STAY"))
    assert not env.is_legal("nobody", act("STAY"))
    assert env.legal_actions("nobody") == []


@pytest.mark.parametrize("action", ["N", {"move": "STAY", "signal": 9}, 24, -1, True, 1.5])
def test_step_refuses_actions_outside_both_forms(action: Any) -> None:
    env = new_env()
    before = env.render_state()
    with pytest.raises(InvalidArgumentError, match="illegal for player_1"):
        env.step({"player_0": act("STAY", 3), "player_1": action})
    assert env.render_state() == before  # nothing applied, not even player_0's signal


def test_step_needs_one_action_per_live_agent() -> None:
    env = new_env()
    with pytest.raises(InvalidArgumentError, match="expected one per live agent"):
        env.step({"player_0": act("STAY")})


def test_legal_actions_are_the_mask_of_the_pettingzoo_face() -> None:
    for seed in range(10):
        env = new_env(3, difficulty=3, seed=seed)
        rng = random.Random(seed)
        while env.agents:
            actions = {}
            for agent in env.agents:
                legal = env.legal_actions(agent)
                mask = env.observe(agent)["action_mask"]
                assert [MOVES.index(a["move"]) * 4 + a["signal"] for a in legal] == [
                    index for index in range(24) if mask[index]
                ]
                assert all(env.is_legal(agent, json.loads(json.dumps(a))) for a in legal)
                actions[agent] = rng.choice(legal)
            env.step(actions)


@pytest.mark.parametrize("num_players", [2, 4])
def test_observations_lie_in_their_space(num_players: int) -> None:
    env = Foraging(num_players=num_players)
    for difficulty in (1, 3, 5):
        for seed in range(3):
            observations, _ = env.reset(seed=seed, options={"difficulty": difficulty})
            rng = random.Random(seed)
            while env.agents:
                for agent, observation in observations.items():
                    assert env.observation_space(agent).contains(observation), (agent, seed)
                observations, *_ = env.step(
                    {agent: rng.choice(env.legal_actions(agent)) for agent in env.agents}
                )
            for agent, observation in observations.items():
                assert env.observation_space(agent).contains(observation)
                assert not observation["action_mask"].any()


@pytest.mark.parametrize("num_players", [2, 3, 4])
@pytest.mark.parametrize("difficulty", [1, 5])
def test_pettingzoo_parallel_tests(num_players: int, difficulty: int) -> None:
    def factory() -> Foraging:
        return Foraging(num_players=num_players, difficulty=difficulty)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(factory(), num_cycles=150)
        parallel_seed_test(factory, num_cycles=150)


@pytest.mark.parametrize("num_players", [3, 4])
def test_conformance_with_bigger_teams(num_players: int) -> None:
    check_scenario(lambda: Foraging(num_players=num_players), num_cycles=60)


def test_render_text_from_json() -> None:
    env = new_env(2, difficulty=2)
    arrange(env, agents=[(0, 0, 2), (2, 3, 1)], food=[(1, 1, 3), (5, 5, 12)])
    env.step({"player_0": act("S", 2), "player_1": act("STAY")})
    state = json.loads(json.dumps(env.render_state()))
    lines = Foraging.render_text(state).splitlines()
    assert lines[0] == "+" + "-" * 24 + "+" == lines[9]
    assert lines[2] == "|A2 *3  .  .  .  .  .  . |"
    assert lines[3] == "| .  .  . B1  .  .  .  . |"
    assert lines[6] == "| .  .  .  .  . *12 .  . |"
    assert lines[10] == "step 1/40, food left 2, view 4, ongoing"
    assert lines[11] == "A player_0 level 2 at (1, 0), signal 2, last S, score 0.000"
    assert env.render() == "\n".join(lines)


def test_render_state_is_compact_json() -> None:
    env = new_env(4, difficulty=5, seed=3)
    state = env.render_state()
    assert set(state) == {
        "size",
        "view_radius",
        "step",
        "step_limit",
        "agents",
        "food",
        "signals",
        "moves",
        "scores",
        "result",
        "faults",
    }
    assert len(json.dumps(state, separators=(",", ":"))) < 500


def test_level_table_type() -> None:
    assert all(isinstance(level, ForagingLevel) for level in LEVELS.values())
    assert MAX_SIDE == 16
