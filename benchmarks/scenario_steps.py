"""In-process step rate of every registered scenario, through the runner's wire API.

Each step does what the match runner does for one move, minus the agent:
``observe_json`` + ``legal_actions`` + ``is_legal`` + ``step`` (every live agent each
round for simultaneous scenarios), with uniformly random legal actions, resets
included, at the easiest and the hardest difficulty. The baseline, in the same run, is
PettingZoo's own ``tictactoe_v3`` stepped in-process by random masked play.
Target (set here): the slowest scenario and level at least 1,000 steps/s, resets
included (a step well under a millisecond, so a scenario never dominates a match).
``--seconds`` sets the time spent on each scenario and level (default 1).
Prints one JSON object: ``<scenario>@d<level>`` steps/s per scenario and level, the
baseline ``pettingzoo_tictactoe_steps_per_s``, ``min_ratio`` (slowest / baseline) and
the judged figure (target, met, ratio).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from _util import emit, figure, machine
from devspark.scenarios import ParallelScenario, list_scenarios, make

SECONDS = 1.0
TARGET = 1000.0


def _random_action(env: Any, agent: str, rng: random.Random) -> Any:
    legal = env.legal_actions(agent)
    if legal:
        return rng.choice(legal)
    sample = env.action_space(agent).sample()
    return json.loads(json.dumps(sample.tolist() if hasattr(sample, "tolist") else sample))


def steps_per_s(scenario: str, difficulty: int, seconds: float = SECONDS) -> float:
    env = make(scenario)
    rng = random.Random(0)
    env.action_space(env.possible_agents[0]).seed(0)
    steps, episode = 0, 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        env.reset(seed=episode, options={"difficulty": difficulty})
        episode += 1
        if isinstance(env, ParallelScenario):
            while env.agents:
                actions = {}
                for agent in env.agents:
                    env.observe_json(agent)
                    action = _random_action(env, agent, rng)
                    env.is_legal(agent, action)
                    actions[agent] = action
                env.step(actions)
                steps += 1
            continue
        while env.agents:
            agent = env.agent_selection
            if env.terminations[agent] or env.truncations[agent]:
                env.step(None)
                continue
            env.observe_json(agent)
            action = _random_action(env, agent, rng)
            env.is_legal(agent, action)
            env.step(action)
            steps += 1
    return steps / (time.perf_counter() - start)


def pettingzoo_steps_per_s(seconds: float = SECONDS) -> float:
    from pettingzoo.classic import tictactoe_v3

    env = tictactoe_v3.env()
    rng = random.Random(0)
    steps, episode = 0, 0
    start = time.perf_counter()
    while time.perf_counter() < start + seconds:
        env.reset(seed=episode)
        episode += 1
        for _agent in env.agent_iter():
            observation, _, terminated, truncated, _ = env.last()
            if terminated or truncated:
                env.step(None)
                continue
            mask = observation["action_mask"]
            env.step(rng.choice([i for i, legal in enumerate(mask) if legal]))
            steps += 1
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help="per scenario and level")
    seconds = parser.parse_args().seconds
    load = machine()
    baseline = pettingzoo_steps_per_s(seconds)
    print(f"{'pettingzoo tictactoe_v3 (baseline)':36s} {baseline:10.0f} steps/s")
    figures: dict[str, Any] = {**load, "pettingzoo_tictactoe_steps_per_s": baseline}
    for info in list_scenarios():
        for level in sorted({info.difficulties[0], info.difficulties[-1]}):
            rate = steps_per_s(info.full_id, level, seconds)
            figures[f"{info.id}@d{level}"] = rate
            print(
                f"{info.full_id + f' difficulty {level}':36s} {rate:10.0f} steps/s"
                f"  ratio {rate / baseline:5.2f}"
            )
    rates = [v for k, v in figures.items() if "@d" in k]
    figures["min_ratio"] = min(rates) / baseline
    slowest = min((k for k in figures if "@d" in k), key=figures.__getitem__)
    judged = figure(
        f"slowest scenario step rate ({slowest})",
        figures[slowest],
        "steps/s",
        target=TARGET,
        better="higher",
        target_source="set here",
        baseline=baseline,
        baseline_name="PettingZoo tictactoe_v3 in-process",
    )
    emit(figures, [judged])


if __name__ == "__main__":
    main()
