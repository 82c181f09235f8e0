"""The match runner: drives a scenario with agent workers and records what happened.

Agent faults are results: a late, crashing, flooding or cheating agent forfeits (the
scenario's rules say how the episode ends) and the runner carries on. Only a bug in
the scenario itself raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from devspark.arena.agents import resolve_agent
from devspark.core.errors import InvalidArgumentError
from devspark.core.ports import AgentWorker, Decision
from devspark.core.results import AgentResult, AgentStatus, MatchResult
from devspark.sandbox import IsolationLevel, open_worker
from devspark.scenarios import Scenario, make

MAX_STEPS = 1_000_000
StepObserver = Callable[[int, str, Decision], None]


@dataclass(frozen=True, slots=True)
class MatchSpec:
    """A match is deterministic given these (with deterministic agents)."""

    scenario: str
    agents: tuple[str, ...]
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    isolation: IsolationLevel = IsolationLevel.SANDBOX


def agent_seed(match_seed: int, seat: int) -> int:
    """The seed an agent's RNG gets in a seat of a match (stable across runs)."""
    return (match_seed * 1_000_003 + seat * 7_919 + 17) % 2**31


def play_episode(
    env: Scenario,
    workers: Sequence[AgentWorker],
    *,
    seed: int,
    episode: int = 0,
    options: dict[str, Any] | None = None,
    observer: StepObserver | None = None,
) -> MatchResult:
    """Play one episode of ``env`` with ``workers`` in seat order.

    Raises:
        InvalidArgumentError: when the number of workers does not fit the scenario.

    """
    options = dict(options or {})
    env.reset(seed=seed, options=options)
    names = list(env.possible_agents)
    if len(names) != len(workers):
        raise InvalidArgumentError(f"{env.full_id} seats {len(names)} agents, got {len(workers)}")
    started = time.monotonic()
    by_name = dict(zip(names, workers, strict=True))
    results = {
        name: AgentResult(agent=worker.package.ref, role=name) for name, worker in by_name.items()
    }
    for seat, (name, worker) in enumerate(by_name.items()):
        worker.reset(
            episode=episode,
            scenario=env.full_id,
            role=name,
            seed=agent_seed(seed, seat),
            config=options,
        )
    step = 0
    while env.agents and step < MAX_STEPS:
        name = env.agent_selection
        if env.terminations[name] or env.truncations[name]:
            env.step(None)
            continue
        record = results[name]
        decision = by_name[name].act(step, env.observe_json(name), env.legal_actions(name))
        if decision.status is AgentStatus.OK and not env.is_legal(name, decision.action):
            decision.status = AgentStatus.INVALID_ACTION
            decision.detail = f"illegal action {str(decision.action)[:100]} at step {step}"
        if observer is not None:
            observer(step, name, decision)
        step += 1
        if decision.status is AgentStatus.OK:
            record.moves += 1
            env.step(decision.action)
        else:
            record.status, record.detail = decision.status, decision.detail
            env.forfeit(name, decision.status.value)
        for agent, reward in env.rewards.items():
            if reward:
                results[agent].reward += reward
    for name, worker in by_name.items():
        record = results[name]
        usage, log = worker.finish(reward=record.reward, status=record.status)
        record.wall_ms, record.cpu_s, record.peak_mb = usage.wall_ms, usage.cpu_s, usage.peak_mb
        record.logs, record.stderr = log.logs, log.stderr
    wall_ms = (time.monotonic() - started) * 1000
    return MatchResult(env.full_id, seed, [results[n] for n in names], steps=step, wall_ms=wall_ms)


def run_match(spec: MatchSpec, *, observer: StepObserver | None = None) -> MatchResult:
    """Resolve the agents, start them at ``spec.isolation``, play one episode, stop them."""
    env = make(spec.scenario)
    packages = [resolve_agent(ref) for ref in spec.agents]
    for package in packages:
        if not package.manifest.plays(env.full_id):
            raise InvalidArgumentError(
                f"agent {package.ref!r} does not declare scenario {env.scenario_id!r} "
                f"(its scenarios: {package.manifest.scenarios})"
            )
    workers: list[AgentWorker] = []
    try:
        for seat, package in enumerate(packages):
            workers.append(open_worker(package, spec.isolation, seed=agent_seed(spec.seed, seat)))
        return play_episode(env, workers, seed=spec.seed, options=spec.options, observer=observer)
    finally:
        for worker in workers:
            worker.close()
        env.close()
