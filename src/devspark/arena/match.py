"""The match runner: drives a scenario with agent workers and records what happened.

Turn-based scenarios (PettingZoo AEC) ask the agent whose turn it is; simultaneous
scenarios (PettingZoo Parallel) ask every live agent each round, then step the round
with all actions. Agent faults are results: a late, crashing, flooding or cheating
agent forfeits (the scenario's rules say how the episode ends) and the runner carries
on. Only a bug in the scenario itself raises.
"""

from __future__ import annotations

import difflib
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from devspark.arena.agents import resolve_agent
from devspark.arena.messaging import MatchBus, MatchTools
from devspark.core.errors import InvalidArgumentError
from devspark.core.isolation import IsolationLevel
from devspark.core.manifest import BoolParam, ChoiceParam, IntParam, Parameter
from devspark.core.ports import AgentPackage, AgentWorker, Decision
from devspark.core.results import AgentResult, AgentStatus, MatchResult
from devspark.sandbox import open_worker
from devspark.scenarios import AnyScenario, ParallelScenario, Scenario, make, resolve
from devspark.scenarios.options import check_options

MAX_STEPS = 1_000_000
CONCURRENT_AFTER_MS = 2.0
"""A simultaneous round whose slowest move took longer asks the next one concurrently."""
StepObserver = Callable[[int, str, Decision], None]
"""Called with (step, agent, decision) for every decision, before the scenario applies it."""

Move = tuple[str, Decision]
"""One agent's decision in a step: (agent, decision)."""


class StepRecorder(Protocol):
    """Sees every step after the scenario applied it; replays are recorded this way."""

    def start(self, env: AnyScenario) -> None:
        """Called once after reset, before the first step."""
        ...

    def __call__(self, step: int, moves: list[Move], env: AnyScenario) -> None:
        """Called after each step (or forfeit) with the moves that made it.

        ``moves`` holds one (agent, decision) for a turn-based step and one per live
        agent for a simultaneous round; ``env.rewards`` and ``env.render_state()`` are
        those after the step.
        """
        ...


@dataclass(frozen=True, slots=True)
class MatchSpec:
    """A match is deterministic given these (with deterministic agents)."""

    scenario: str
    agents: tuple[str, ...]
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    isolation: IsolationLevel = IsolationLevel.SANDBOX
    sources: tuple[str, ...] = ()
    """Per seat, the folder to load the agent from when its reference is only a name
    (an uploaded agent staged by the server); empty, or ``""`` for a seat, resolves the
    reference itself."""
    record: bool = False
    """Build the replay document into :attr:`MatchResult.replay`."""
    params: tuple[Mapping[str, Any] | None, ...] = ()
    """Per seat, the values of the agent's manifest ``[parameters]`` it plays with,
    merged over the defaults; empty, or ``None`` for a seat, plays with the defaults.
    Checked against each seat's manifest before any worker starts
    (:func:`check_params`)."""

    def seat_params(self, seat: int) -> dict[str, Any] | None:
        """The parameter values given for ``seat``, or ``None`` for its defaults."""
        if seat < len(self.params) and self.params[seat] is not None:
            return dict(self.params[seat] or {})
        return None

    def source(self, seat: int) -> str | None:
        """The folder of ``seat``'s agent, or ``None`` when its reference resolves."""
        if seat < len(self.sources) and self.sources[seat]:
            return self.sources[seat]
        return None

    def packages(self) -> list[AgentPackage]:
        """Resolve every seat's agent (see :func:`~devspark.arena.agents.resolve_agent`)."""
        return [
            resolve_agent(ref, source=self.source(seat)) for seat, ref in enumerate(self.agents)
        ]


def _allowed(spec: Parameter) -> str:
    """What ``spec`` accepts, in words."""
    if isinstance(spec, ChoiceParam):
        return f"one of {spec.choices!r}"
    if isinstance(spec, BoolParam):
        return "true or false"
    kind = "an integer" if isinstance(spec, IntParam) else "a number"
    return f"{kind} in [{spec.low!r}, {spec.high!r}]"


def _accepts(spec: Parameter, value: object) -> bool:
    """Whether ``value`` is a valid value of ``spec``."""
    if isinstance(spec, ChoiceParam):
        return any(type(value) is type(choice) and value == choice for choice in spec.choices)
    if isinstance(spec, BoolParam) or isinstance(value, bool):
        return isinstance(spec, BoolParam) and isinstance(value, bool)
    if isinstance(spec, IntParam) and not isinstance(value, int):
        return False
    if not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return spec.low <= value <= spec.high


def check_params(spec: MatchSpec, packages: Sequence[AgentPackage]) -> None:
    """Check ``spec.params`` against the ``[parameters]`` of each seat's manifest.

    Args:
        spec: The match; its ``params`` has at most one entry per seat.
        packages: The resolved agents, in seat order.

    Raises:
        InvalidArgumentError: More entries than seats, or a seat's value names no
            parameter of its agent (with a near-name suggestion) or is not allowed;
            the message names the seat, the parameter, the value and what is allowed.

    """
    if len(spec.params) > len(packages):
        raise InvalidArgumentError(
            f"params has {len(spec.params)} entries for {len(packages)} seats "
            "(at most one per seat; None plays a seat with its defaults)"
        )
    for seat, package in enumerate(packages):
        declared = package.manifest.parameters
        for name, value in (spec.seat_params(seat) or {}).items():
            where = f"seat {seat} ({package.ref}): parameter {name!r} = {value!r}"
            if name not in declared:
                near = difflib.get_close_matches(name, list(declared), n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"declared: {sorted(declared)}"
                raise InvalidArgumentError(f"{where}: not in the agent's [parameters] ({hint})")
            if not _accepts(declared[name], value):
                raise InvalidArgumentError(f"{where}: allowed: {_allowed(declared[name])}")


def agent_seed(match_seed: int, seat: int) -> int:
    """The seed an agent's RNG gets in a seat of a match (stable across runs)."""
    return (match_seed * 1_000_003 + seat * 7_919 + 17) % 2**31


def play_episode(
    env: AnyScenario,
    workers: Sequence[AgentWorker],
    *,
    seed: int,
    episode: int = 0,
    options: dict[str, Any] | None = None,
    observer: StepObserver | None = None,
    recorder: StepRecorder | None = None,
) -> MatchResult:
    """Play one episode of ``env`` with ``workers`` in seat order.

    Args:
        env: The scenario (reset here with ``seed`` and ``options``).
        workers: One started worker per seat.
        seed: Seed of the scenario; each agent gets :func:`agent_seed` of it.
        episode: Episode number told to the agents.
        options: Reset options, e.g. ``{"difficulty": 3}``.
        observer: Sees every decision before the scenario applies it.
        recorder: Sees every step after the scenario applied it (replays).

    Messages the agents publish are routed between them after every step (see
    :class:`~devspark.arena.messaging.MatchBus`); each agent's accepted and refused
    counts land in its result. Requests they make during a move are answered by the
    episode's own collaboration tools (:class:`~devspark.arena.messaging.MatchTools`).

    Returns:
        The result; faults are recorded in it, never raised.

    Raises:
        InvalidArgumentError: when the number of workers does not fit the scenario.

    """
    check_seats(env, len(workers))
    options = dict(options or {})
    env.reset(seed=seed, options=options)
    names = list(env.possible_agents)
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
    if recorder is not None:
        recorder.start(env)
    packages = [worker.package for worker in workers]
    bus, tools = MatchBus(names, packages), MatchTools(names, packages)
    episode_run = _Episode(env, by_name, results, observer, recorder, bus, tools)
    if isinstance(env, ParallelScenario):
        steps = episode_run.play_rounds(env)
    else:
        steps = episode_run.play_turns(env)
    for name, worker in by_name.items():
        record = results[name]
        usage, log = worker.finish(reward=record.reward, status=record.status)
        record.wall_ms, record.cpu_s, record.peak_mb = usage.wall_ms, usage.cpu_s, usage.peak_mb
        record.logs, record.stderr = log.logs, log.stderr
        record.messages_sent, record.messages_refused = bus.sent[name], bus.refused[name]
    wall_ms = (time.monotonic() - started) * 1000
    return MatchResult(env.full_id, seed, [results[n] for n in names], steps=steps, wall_ms=wall_ms)


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _threads() -> ThreadPoolExecutor:
    """The process's thread pool for concurrent moves (recreated after a fork)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=8, thread_name_prefix="moves"))
        return _pool[1]


class _Episode:
    """The loop of one episode: asks agents, applies moves, adds up rewards."""

    def __init__(
        self,
        env: AnyScenario,
        workers: dict[str, AgentWorker],
        results: dict[str, AgentResult],
        observer: StepObserver | None,
        recorder: StepRecorder | None,
        bus: MatchBus,
        tools: MatchTools,
    ) -> None:
        self.env = env
        self.workers = workers
        self.results = results
        self.observer = observer
        self.recorder = recorder
        self.bus = bus
        self.tools = tools

    def request(self, name: str) -> Callable[[int], Decision]:
        """Build ``name``'s move request now (observation, pending messages); ask it later."""
        env, worker = self.env, self.workers[name]
        observation, legal = env.observe_json(name), env.legal_actions(name)
        messages, errors = self.bus.take(name)
        # Only when there is something to tell: workers written before the bus still fit.
        bus: dict[str, Any] = {"messages": messages} if messages else {}
        if errors:
            bus["bus_errors"] = errors
        return lambda step: self.tools.ask(
            name,
            step,
            lambda on_request: worker.act(step, observation, legal, on_request=on_request, **bus),
        )

    def decide(self, step: int, name: str) -> Decision:
        """Ask ``name`` for its move and check it."""
        return self.check(step, name, self.request(name)(step))

    def check(self, step: int, name: str, decision: Decision) -> Decision:
        """Check that ``decision`` is legal, tell the observer and record it."""
        if decision.status is AgentStatus.OK and not self.env.is_legal(name, decision.action):
            decision.status = AgentStatus.INVALID_ACTION
            decision.detail = f"illegal action {str(decision.action)[:100]} at step {step}"
        if self.observer is not None:
            self.observer(step, name, decision)
        record = self.results[name]
        if decision.status is AgentStatus.OK:
            record.moves += 1
        else:
            record.status, record.detail = decision.status, decision.detail
        return decision

    def applied(self, step: int, moves: list[Move]) -> None:
        """Add up the rewards of the step just applied, route its messages, tell the recorder."""
        self.bus.route(moves)
        results = self.results
        for agent, reward in self.env.rewards.items():
            if reward:
                results[agent].reward += reward
        if self.recorder is not None:
            self.recorder(step, moves, self.env)

    def play_turns(self, env: Scenario) -> int:
        """Turn-based loop; returns the number of decisions asked for."""
        step = 0
        while env.agents and step < MAX_STEPS:
            name = env.agent_selection
            if env.terminations[name] or env.truncations[name]:
                env.step(None)
                continue
            decision = self.decide(step, name)
            if decision.status is AgentStatus.OK:
                env.step(decision.action)
            else:
                env.forfeit(name, decision.status.value)
            self.applied(step, [(name, decision)])
            step += 1
        return step

    def play_rounds(self, env: ParallelScenario) -> int:
        """Simultaneous loop; returns the number of rounds played.

        Every live agent gets its observation before any answer is read. Agents are
        asked one after another while they answer fast; once a round's slowest move
        took over :data:`CONCURRENT_AFTER_MS`, they are asked concurrently, so a round
        lasts as long as its slowest agent rather than the sum of all of them; never
        when an agent may request (:attr:`MatchTools.sequential`): requests then reach
        the episode's tools in seat order.
        """
        step = 0
        concurrent = False
        while env.agents and step < MAX_STEPS:
            names = list(env.agents)
            asks = [self.request(name) for name in names]
            if concurrent and len(asks) > 1 and not self.tools.sequential:
                decisions = list(_threads().map(lambda ask, s=step: ask(s), asks))
            else:
                decisions = [ask(step) for ask in asks]
            concurrent = max(d.elapsed_ms for d in decisions) > CONCURRENT_AFTER_MS
            moves = [(n, self.check(step, n, d)) for n, d in zip(names, decisions, strict=True)]
            faults = {n: d.status.value for n, d in moves if d.status is not AgentStatus.OK}
            if faults:
                env.forfeit_all(faults)
            else:
                env.play_round({name: decision.action for name, decision in moves})
            self.applied(step, moves)
            step += 1
        return step


def make_for(spec: MatchSpec) -> AnyScenario:
    """Build the scenario of ``spec`` seating ``len(spec.agents)`` agents.

    Raises:
        NotFoundError: Unknown scenario.
        InvalidArgumentError: The scenario cannot seat that many agents, or refuses
            the options (:func:`~devspark.scenarios.options.check_options`).

    """
    cls = resolve(spec.scenario)
    check_options(cls, spec.options)
    low, high = cls.players
    count = len(spec.agents)
    if not low <= count <= high:
        seats = f"{low} to {high}" if low != high else str(low)
        raise InvalidArgumentError(f"{cls.full_id} seats {seats} agents, got {count}")
    return make(spec.scenario, num_players=count) if low != high else make(spec.scenario)


def check_seats(env: AnyScenario, count: int) -> None:
    """Check that ``count`` agents fill the seats of ``env`` exactly.

    Args:
        env: The scenario, built for its number of players.
        count: How many agents are to play it.

    Raises:
        InvalidArgumentError: ``count`` differs from the seats of ``env``.

    """
    seats = len(env.possible_agents)
    if count != seats:
        raise InvalidArgumentError(f"{env.full_id} seats {seats} agents, got {count}")


def check_entrants(env: AnyScenario, packages: Sequence[AgentPackage]) -> None:
    """Check that ``packages`` may play ``env``: one per seat, each declaring the scenario.

    Args:
        env: The scenario of the match.
        packages: The agents in seat order.

    Raises:
        InvalidArgumentError: The seat count does not fit, or an agent does not
            declare the scenario in its manifest.

    """
    check_seats(env, len(packages))
    for package in packages:
        if not package.manifest.plays(env.full_id):
            raise InvalidArgumentError(
                f"agent {package.ref!r} does not declare scenario {env.scenario_id!r} "
                f"(its scenarios: {package.manifest.scenarios})"
            )


SeatOpener = Callable[[int, AgentPackage], AgentWorker]
"""Gives the started worker for (seat, package): a fresh one (cold) or a warm one."""


def play_match(
    spec: MatchSpec,
    env: AnyScenario,
    packages: Sequence[AgentPackage],
    open_seat: SeatOpener,
    *,
    episode: int = 0,
    observer: StepObserver | None = None,
    recorder: StepRecorder | None = None,
) -> MatchResult:
    """Play ``spec`` once, cold or warm: the one place that checks entrants and plays.

    :func:`run_match` opens fresh workers and closes them afterwards;
    :meth:`devspark.arena.pool.WorkerCache.play` reuses warm ones. Both come here, so
    the seat and :meth:`~devspark.core.manifest.AgentManifest.plays` checks are the
    same whichever way a match is played, and no worker starts before they pass.

    Args:
        spec: The match (its seed and options are used here).
        env: The scenario of ``spec`` (see :func:`make_for`).
        packages: The resolved agents, in seat order.
        open_seat: Gives the worker of each seat, called after the checks passed.
        episode: Episode number told to the agents.
        observer: Sees every decision before the scenario applies it.
        recorder: Sees every step after the scenario applied it (replays, live events).

    Returns:
        The result; agent faults are recorded in it, never raised.

    Raises:
        InvalidArgumentError: The seat count does not fit, an agent does not play
            the scenario, or a seat's params are refused (:func:`check_params`).

    """
    check_entrants(env, packages)
    check_params(spec, packages)
    workers = [open_seat(seat, package) for seat, package in enumerate(packages)]
    return play_episode(
        env,
        workers,
        seed=spec.seed,
        episode=episode,
        options=spec.options,
        observer=observer,
        recorder=recorder,
    )


def run_match(
    spec: MatchSpec,
    *,
    observer: StepObserver | None = None,
    recorder: StepRecorder | None = None,
) -> MatchResult:
    """Play ``spec`` cold: start its agents at ``spec.isolation``, play once, stop them.

    Args:
        spec: The match.
        observer: Sees every decision before the scenario applies it.
        recorder: Sees every step after the scenario applied it.

    Returns:
        The result (see :func:`play_match`).

    Raises:
        NotFoundError: Unknown scenario or agent.
        InvalidArgumentError: An agent does not play the scenario, or the seat count
            does not fit.

    """
    env = make_for(spec)
    workers: list[AgentWorker] = []

    def open_seat(seat: int, package: AgentPackage) -> AgentWorker:
        seed, params = agent_seed(spec.seed, seat), spec.seat_params(seat)
        workers.append(open_worker(package, spec.isolation, seed=seed, params=params))
        return workers[-1]

    try:
        return play_match(
            spec, env, spec.packages(), open_seat, observer=observer, recorder=recorder
        )
    finally:
        for worker in workers:
            worker.close()
        env.close()
