import itertools
import json
import random
import statistics
import warnings
from typing import Any

import numpy as np
import pytest
import scenario_helpers as helpers
from scipy import stats

from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.scenarios import make
from devspark.scenarios.prisoners_dilemma import (
    HISTORY_WINDOW,
    LEVELS,
    OBS_ROUNDS,
    PrisonersDilemma,
    pairwise_points,
)
from devspark.testing.check_scenario import check_scenario

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pettingzoo.test import parallel_api_test, parallel_seed_test

MATRIX = {("C", "C"): 3, ("C", "D"): 0, ("D", "C"): 5, ("D", "D"): 1}


def new_game(num_players: int = 2, **options: Any) -> PrisonersDilemma:
    env = PrisonersDilemma(num_players=num_players)
    env.reset(seed=0, options={"difficulty": 1, **options})
    return env


def play_round(env: PrisonersDilemma, actions: str) -> dict[str, float]:
    env.step({f"player_{i}": action for i, action in enumerate(actions)})
    return dict(env.rewards)


def test_identity() -> None:
    helpers.assert_identity(
        PrisonersDilemma,
        "prisoners_dilemma-v1",
        ("adversarial", "collaboration"),
        (2, 8),
        (1, 2, 3, 4, 5),
        parallel=True,
    )
    assert make("prisoners_dilemma").possible_agents == ["player_0", "player_1"]
    assert make("prisoners_dilemma", num_players=8).possible_agents == [
        f"player_{i}" for i in range(8)
    ]


def test_reset_state() -> None:
    env = new_game()
    assert env.agents == ["player_0", "player_1"]
    assert env.observe_json("player_1") == {
        "round": 0,
        "num_players": 2,
        "me": 1,
        "history": [],
        "cooperations": [0, 0],
        "scores": [0.0, 0.0],
        "horizon": 50,
        "noise": 0.0,
    }
    assert env.legal_actions("player_0") == ["C", "D"]
    assert env.render_state() == {
        "round": 0,
        "horizon": 50,
        "horizon_known": True,
        "noise": 0.0,
        "num_players": 2,
        "intended": None,
        "executed": None,
        "cooperations": [0, 0],
        "scores": [0.0, 0.0],
        "result": "ongoing",
        "faults": {},
    }


@pytest.mark.parametrize(("mine", "theirs"), list(MATRIX))
def test_two_player_payoff_matrix(mine: str, theirs: str) -> None:
    rewards = play_round(new_game(), mine + theirs)
    assert rewards == {"player_0": MATRIX[mine, theirs], "player_1": MATRIX[theirs, mine]}


def test_n_player_payoff_is_the_average_over_opponents() -> None:
    # Two cooperators and two defectors: a cooperator meets C, D, D -> (3 + 0 + 0) / 3;
    # a defector meets C, C, D -> (5 + 5 + 1) / 3.
    rewards = play_round(new_game(4), "CDCD")
    assert rewards == pytest.approx(
        {"player_0": 1.0, "player_1": 11 / 3, "player_2": 1.0, "player_3": 11 / 3}
    )


@pytest.mark.parametrize("num_players", [2, 3, 5, 8])
def test_n_player_payoffs_match_pairwise_play(num_players: int) -> None:
    rng = random.Random(num_players)
    env = new_game(num_players, rounds=40)
    totals = [0.0] * num_players
    for _ in range(40):
        actions = "".join(rng.choice("CD") for _ in range(num_players))
        rewards = play_round(env, actions)
        for i, mine in enumerate(actions):
            pairs = [MATRIX[mine, theirs] for j, theirs in enumerate(actions) if j != i]
            assert rewards[f"player_{i}"] == pytest.approx(statistics.mean(pairs))
            totals[i] += rewards[f"player_{i}"]
    assert env.observe_json("player_0")["scores"] == pytest.approx(totals)
    assert env.episode_over


def test_pairwise_points_defecting_always_pays_more() -> None:
    for n in range(2, 9):
        for cooperators in range(1, n + 1):
            on_c, _ = pairwise_points(cooperators, n)
            on_d = pairwise_points(cooperators - 1, n)[1]
            # Switching C -> D: T - R = 2 more against each other cooperator, P - S = 1
            # more against each defector.
            gain = on_d - on_c
            assert gain == 2 * (cooperators - 1) + (n - cooperators)
            assert 0 <= on_c <= 3 * (n - 1) and n - 1 <= on_d <= 5 * (n - 1)


def test_rounds_history_and_counts() -> None:
    env = new_game(3, rounds=120)
    for i in range(120):
        assert env.observe_json("player_2")["round"] == i
        play_round(env, "CDC" if i % 2 else "DDC")
    observation = env.observe_json("player_2")
    assert observation["round"] == 120
    assert len(observation["history"]) == HISTORY_WINDOW
    assert observation["history"][-2:] == ["DDC", "CDC"]
    assert observation["cooperations"] == [60, 0, 120]
    assert env.episode_over and env.agents == []
    assert env.render_state()["result"] == "done"


def test_observe_json_returns_fresh_values() -> None:
    env = new_game()
    play_round(env, "CD")
    observation = env.observe_json("player_0")
    observation["history"].append("DD")
    observation["cooperations"][0] = 99
    observation["scores"][0] = 99.0
    fresh = env.observe_json("player_0")
    assert (fresh["history"], fresh["cooperations"], fresh["scores"]) == (
        ["CD"],
        [1, 0],
        [0.0, 5.0],
    )


@pytest.mark.parametrize("difficulty", [4, 5])
def test_noise_flips_actions_at_the_documented_rate(difficulty: int) -> None:
    noise = LEVELS[difficulty].noise
    env = PrisonersDilemma(num_players=4)
    env.reset(seed=difficulty, options={"difficulty": difficulty, "rounds": 5_000})
    flips = 0
    for i in range(5_000):
        intended = "CDCD" if i % 2 else "DDCC"
        play_round(env, intended)
        executed = env.observe_json("player_0")["history"][-1]
        state = env.render_state()
        assert (state["intended"], state["executed"]) == (intended, executed)
        flips += sum(a != b for a, b in zip(intended, executed, strict=True))
    assert env.observe_json("player_0")["noise"] == noise
    assert stats.binomtest(flips, 20_000, noise).pvalue > 0.001
    assert abs(flips / 20_000 - noise) < 0.01


def test_no_noise_at_difficulty_one() -> None:
    env = new_game(rounds=2_000)
    for _ in range(2_000):
        play_round(env, "CD")
    assert env.observe_json("player_0")["cooperations"] == [2_000, 0]


def horizons(difficulty: int, seeds: range) -> list[int]:
    env = PrisonersDilemma()
    result = []
    for seed in seeds:
        env.reset(seed=seed, options={"difficulty": difficulty})
        result.append(env.render_state()["horizon"])
    return result


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4, 5])
def test_horizon_is_shown_only_at_low_difficulty_and_is_exact(difficulty: int) -> None:
    env = PrisonersDilemma()
    for seed in range(3):
        env.reset(seed=seed, options={"difficulty": difficulty})
        horizon = env.render_state()["horizon"]
        shown = env.observe_json("player_0")["horizon"]
        assert shown == (horizon if difficulty <= 2 else None)
        assert env.render_state()["horizon_known"] is (difficulty <= 2)
        assert env.observe("player_0")["horizon"][0] == (horizon if difficulty <= 2 else 0)
        rounds = 0
        while env.agents:
            env.step({"player_0": "C", "player_1": "D"})
            rounds += 1
        assert rounds == horizon


def test_horizon_distributions() -> None:
    assert set(horizons(1, range(50))) == {50}
    assert set(horizons(2, range(400))) == set(range(40, 61))
    level3 = horizons(3, range(400))
    assert min(level3) >= 20 and max(level3) <= 100 and len(set(level3)) > 60
    for difficulty in (4, 5):
        drawn = horizons(difficulty, range(2_000))
        assert min(drawn) >= 1 and max(drawn) <= 400
        # Geometric with continuation 0.98: mean 50, P(rounds > 50) = 0.98 ** 50 = 0.364.
        assert 46 < statistics.mean(drawn) < 54
        assert 0.33 < sum(h > 50 for h in drawn) / len(drawn) < 0.40


def test_rounds_option_forces_the_horizon() -> None:
    env = PrisonersDilemma(rounds=7)
    env.reset(seed=3, options={"difficulty": 4})
    assert env.render_state()["horizon"] == 7
    env.reset(seed=3, options={"difficulty": 5, "rounds": 1})
    assert env.render_state()["horizon"] == 1
    play_round(env, "CC")
    assert env.episode_over
    env = PrisonersDilemma(rounds=None)  # None draws the horizon, as when absent
    env.reset(seed=0, options={"difficulty": 1, "rounds": None})
    assert env.render_state()["horizon"] == 50


@pytest.mark.parametrize("rounds", [0, -1, 1_000_001, 1.5, 10.0, True, "10", [10]])
def test_rounds_option_is_validated(rounds: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"rounds=.* is out of range"):
        PrisonersDilemma(rounds=rounds)
    with pytest.raises(InvalidArgumentError, match=r"rounds=.* is out of range"):
        PrisonersDilemma().reset(seed=0, options={"rounds": rounds})


@pytest.mark.parametrize("num_players", [0, 1, 9, 2.0, True])
def test_num_players_is_validated(num_players: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="num_players="):
        PrisonersDilemma(num_players=num_players)


@pytest.mark.parametrize("difficulty", [0, 6, 3.0, "3"])
def test_difficulty_is_validated(difficulty: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="difficulty="):
        PrisonersDilemma().reset(seed=0, options={"difficulty": difficulty})


def trajectory(seed: int, difficulty: int, num_players: int = 3) -> list[str]:
    env = PrisonersDilemma(num_players=num_players)
    env.reset(seed=seed, options={"difficulty": difficulty})
    rng = random.Random(99)
    states = [json.dumps(env.render_state())]
    while env.agents:
        env.step({agent: rng.choice("CD") for agent in env.agents})
        states.append(json.dumps(env.render_state()))
    return states


def test_deterministic_per_seed() -> None:
    for difficulty in (1, 3, 5):
        assert trajectory(7, difficulty) == trajectory(7, difficulty)
    assert trajectory(7, 5) != trajectory(8, 5)


def test_step_accepts_wire_strings_and_space_ints() -> None:
    env = new_game(4)
    env.step({"player_0": 0, "player_1": np.int64(1), "player_2": "C", "player_3": np.int8(1)})
    assert env.observe_json("player_0")["history"] == ["CDCD"]


@pytest.mark.parametrize("bad", ["c", "", 2, -1, 1.0, True, np.bool_(False), None, [0], {}])
def test_step_rejects_bad_actions_without_changing_state(bad: Any) -> None:
    env = new_game()
    play_round(env, "CC")
    before = env.render_state()
    with pytest.raises(InvalidArgumentError, match="is illegal for player_1"):
        env.step({"player_0": "D", "player_1": bad})
    assert env.render_state() == before
    assert env.observe_json("player_0")["history"] == ["CC"]


def test_step_needs_one_action_per_live_agent_and_fails_when_over() -> None:
    env = new_game(rounds=1)
    with pytest.raises(InvalidArgumentError, match="expected one per live agent"):
        env.step({"player_0": "C"})
    play_round(env, "CC")
    with pytest.raises(FailedPreconditionError, match="call reset"):
        env.step({"player_0": "C", "player_1": "C"})


@pytest.mark.parametrize(
    "action", ["x", "c", "CD", "", 0, 1, -1, None, 1.5, float("nan"), [], ["C"], {}, True, False]
)
def test_is_legal_rejects_garbage(action: Any) -> None:
    assert new_game().is_legal("player_0", action) is False


def test_is_legal_and_legal_actions_follow_the_episode() -> None:
    env = new_game(rounds=1)
    assert env.is_legal("player_0", "C") and env.is_legal("player_1", "D")
    assert not env.is_legal("nobody", "C")
    play_round(env, "CC")
    for agent in env.possible_agents:
        assert env.legal_actions(agent) == []
        assert not env.is_legal(agent, "C")


def test_forfeit_one_agent_gets_the_lowest_return() -> None:
    env = new_game()
    returns = {"player_0": 0.0, "player_1": 0.0}
    for actions in ("DC", "DD", "CC"):
        for agent, reward in play_round(env, actions).items():
            returns[agent] += reward
    env.forfeit_all({"player_0": "timeout"})
    for agent, reward in env.rewards.items():
        returns[agent] += reward
    assert returns == {"player_0": -5.0 * 4, "player_1": 4.0}
    assert env.episode_over and env.agents == []
    state = env.render_state()
    assert state["result"] == "forfeit" and state["faults"] == {"player_0": "timeout"}
    assert state["scores"] == [9.0, 4.0]  # payoffs earned in play
    assert env.legal_actions("player_1") == []
    env.forfeit_all({"player_1": "error"})  # a no-op once over
    assert env.render_state() == state


def test_forfeit_several_agents() -> None:
    env = new_game(5)
    returns = dict.fromkeys(env.agents, 0.0)
    for actions in ("DDDDD", "DCCCC"):
        for agent, reward in play_round(env, actions).items():
            returns[agent] += reward
    env.forfeit_all({"player_0": "crashed", "player_3": "invalid_action"})
    for agent, reward in env.rewards.items():
        returns[agent] += reward
    assert returns["player_0"] == returns["player_3"] == pytest.approx(-15.0)
    assert min(returns[a] for a in ("player_1", "player_2", "player_4")) >= 0
    # Round 1: a defector among defectors scores 1; round 2: a cooperator meets three
    # cooperators and one defector, (3 + 3 + 3 + 0) / 4.
    assert returns["player_1"] == pytest.approx(1.0 + 2.25)
    assert env.rewards["player_1"] == 0.0
    text = env.render()
    assert "crashed" in text and "invalid_action" in text


def test_forfeit_at_the_start_and_validation() -> None:
    env = new_game(3)
    env.forfeit("player_2", "protocol_error")
    assert env.rewards == {"player_0": 0.0, "player_1": 0.0, "player_2": -5.0}
    env = new_game()
    with pytest.raises(InvalidArgumentError, match="is not a fault status"):
        env.forfeit_all({"player_0": "bored"})
    with pytest.raises(InvalidArgumentError, match="is not an agent"):
        env.forfeit_all({"player_9": "timeout"})
    assert env.agents == ["player_0", "player_1"]


@pytest.mark.parametrize("num_players", [2, 5, 8])
def test_pettingzoo_parallel_api_and_seed_tests(num_players: int) -> None:
    for difficulty in (1, 5):
        options = {"num_players": num_players, "difficulty": difficulty}
        parallel_api_test(PrisonersDilemma(**options))
        parallel_seed_test(lambda options=options: PrisonersDilemma(**options))


def test_conformance_kit_with_eight_players() -> None:
    check_scenario(lambda: PrisonersDilemma(num_players=8), num_cycles=30)


@pytest.mark.parametrize(
    ("num_players", "difficulty"), list(itertools.product([2, 3, 8], [1, 3, 5]))
)
def test_observations_lie_in_their_spaces(num_players: int, difficulty: int) -> None:
    env = PrisonersDilemma(num_players=num_players)
    rng = random.Random(difficulty)
    observations, _ = env.reset(seed=difficulty, options={"difficulty": difficulty, "rounds": 40})
    checked = 0
    while True:
        for agent, observation in observations.items():
            assert env.observation_space(agent).contains(observation), (agent, observation)
            checked += 1
        if not env.agents:
            break
        actions = {
            a: env.action_space(a).sample() if rng.random() < 0.5 else "C" for a in env.agents
        }
        observations, *_ = env.step(actions)
    assert checked == 41 * num_players


def test_pettingzoo_observation_is_egocentric() -> None:
    env = new_game(3)
    for actions in ("CDD", "DCD"):
        play_round(env, actions)
    mine = env.observe("player_1")
    assert mine["history"].shape == (OBS_ROUNDS, 3)
    assert mine["history"][-2:].tolist() == [[2, 2, 1], [1, 2, 2]]  # self, player_2, player_0
    assert not mine["history"][:-2].any()
    assert mine["cooperations"].tolist() == [1, 0, 1]
    assert mine["scores"].tolist() == pytest.approx([3.0, 6.0, 3.0])
    assert mine["round"].tolist() == [2] and mine["horizon"].tolist() == [50]
    for array in mine.values():
        array[...] = 0  # the caller owns its arrays
    assert env.observe("player_1")["history"][-1].tolist() == [1, 2, 2]
    assert env.observe("player_1")["round"].tolist() == [2]


def test_render_text_draws_the_state_from_json() -> None:
    env = new_game()
    play_round(env, "CD")
    state = json.loads(json.dumps(env.render_state()))
    assert PrisonersDilemma.render_text(state) == (
        "round 1/50 (horizon shown), noise 0.0, ongoing\n"
        "player     intended executed    coop      score  fault\n"
        "player_0          C        C       1       0.00\n"
        "player_1          D        D       0       5.00"
    )
    assert env.render() == PrisonersDilemma.render_text(state)
    fresh = new_game(3).render_state()
    assert "player_2          -        -       0       0.00" in PrisonersDilemma.render_text(fresh)


def test_render_state_stays_compact_on_long_episodes() -> None:
    env = new_game(rounds=10_000)
    sizes = {}
    for i in range(10_000):
        play_round(env, "CD" if i % 3 else "CC")
        if i + 1 in (10, 10_000):
            sizes[i + 1] = len(json.dumps(env.render_state()))
    # One state per round is stored in a replay: about 200 bytes, whatever the round.
    assert sizes[10_000] < 250
    assert sizes[10_000] - sizes[10] < 20
