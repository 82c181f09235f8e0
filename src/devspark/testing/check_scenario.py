"""Conformance kit for scenarios: ``check_scenario("tictactoe")``.

Runs PettingZoo's ``api_test`` and ``seed_test`` (``parallel_api_test`` and
``parallel_seed_test`` for simultaneous-move scenarios), Gymnasium's ``check_env`` on
the Gymnasium face of single-player scenarios, then checks the wire API the match
runner relies on, over seeded random episodes at every difficulty:

* ``observe_json``, ``legal_actions`` and ``render_state`` survive ``json.dumps``
  (NaN and infinity excluded, as on the wire);
* every legal action passes ``is_legal`` after a JSON round trip, for the acting agent
  only, and ``step`` accepts it;
* garbage (``"x"``, ``-1``, ``99``, ``None``, ``1.5``, ``[1]``, ``True``, NaN ...) fails
  ``is_legal`` without raising, unless the scenario lists it as legal;
* a replay (same seed, same actions) reaches the same states;
* ``forfeit`` at the start, early and mid-episode, for every agent and fault status,
  ends the episode and leaves the faulting agent with the lowest return (for
  simultaneous scenarios also ``forfeit_all`` with two faulting agents).

Failures raise :class:`AssertionError` naming the scenario and the check.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from devspark.scenarios import AnyScenario, ParallelScenario, Scenario, make, to_gymnasium
from devspark.scenarios.base import FAULT_STATUSES

GARBAGE_ACTIONS: tuple[Any, ...] = (
    "x",
    "",
    -1,
    99,
    10**30,
    None,
    1.5,
    float("nan"),
    float("inf"),
    [1],
    [],
    {},
    {"action": 1},
    True,
    False,
)
"""Values that arrive off the wire and are illegal in any scenario that does not list them."""

# PettingZoo's api_test gives advice that does not apply to Dict observations with an
# action mask unless the environment is one of PettingZoo's own (it checks by name).
_ADVISORY_WARNINGS = (
    "Observation is not a NumPy array",
    "Observation space for each agent probably should be",
    "Observation numpy array is all zeros",
    "Action space for each agent probably should be",
)
_EPISODES_PER_DIFFICULTY = 8
_FORFEIT_POINTS = (0, 1, 2)

ScenarioFactory = Callable[[], AnyScenario]


def check_scenario(
    factory_or_id: str | ScenarioFactory,
    *,
    num_cycles: int = 200,
) -> None:
    """Check that a scenario follows the PettingZoo API and the DevSpark wire API.

    Args:
        factory_or_id: A registered scenario id (``"tictactoe"``, ``"tictactoe-v1"``)
            or a zero-argument callable returning a new scenario (a class works).
        num_cycles: Cycles for PettingZoo's tests, and the per-episode step cap
            (``num_cycles`` times the number of agents) of the wire checks.

    Raises:
        AssertionError: The scenario fails a check; the message says which.

    """
    factory = _as_factory(factory_or_id)
    probe = factory()
    if not isinstance(probe, (Scenario, ParallelScenario)):
        raise AssertionError(f"{factory_or_id!r} built {probe!r}, which is not a Scenario")
    name = probe.full_id
    _check_identity(probe)
    if isinstance(probe, ParallelScenario):
        _check_parallel(factory, name, num_cycles)
        return
    with _quiet():
        # PettingZoo's test module imports its deprecated example environments.
        from pettingzoo.test import api_test, seed_test
    with _failures_named(f"{name}: PettingZoo api_test"), _quiet():
        api_test(factory(), num_cycles=num_cycles)
    with _failures_named(f"{name}: PettingZoo seed_test"), _quiet():
        seed_test(factory, num_cycles=num_cycles)
    if len(probe.possible_agents) == 1:
        _check_gymnasium(probe, name)
    max_steps = num_cycles * len(probe.possible_agents)
    for difficulty in probe.difficulties:
        for seed in range(_EPISODES_PER_DIFFICULTY):
            where = f"{name} (difficulty={difficulty}, seed={seed})"
            options = {"difficulty": difficulty}
            with _failures_named(where):
                env = _aec(factory())
                actions, states = _play_checked(env, seed, options, max_steps)
                _check_replay(_aec(factory()), seed, options, actions, states)
    _check_forfeits(factory, name)


def _aec(env: AnyScenario) -> Scenario:
    if not isinstance(env, Scenario):
        raise AssertionError(f"{env.full_id}: the factory built scenarios of different kinds")
    return env


def _par(env: AnyScenario) -> ParallelScenario:
    if not isinstance(env, ParallelScenario):
        raise AssertionError(f"{env.full_id}: the factory built scenarios of different kinds")
    return env


def _check_gymnasium(probe: Scenario, name: str) -> None:
    """Gymnasium's own checker on the Gymnasium face, at every difficulty."""
    from gymnasium.utils.env_checker import check_env

    for difficulty in probe.difficulties:
        with _failures_named(f"{name}: Gymnasium check_env (difficulty={difficulty})"), _quiet():
            env = to_gymnasium(type(probe)(**{**probe.default_options, "difficulty": difficulty}))
            check_env(env, skip_render_check=True)


def _check_parallel(factory: ScenarioFactory, name: str, num_cycles: int) -> None:
    """The checks of :func:`check_scenario` for simultaneous-move scenarios."""
    with _quiet():
        from pettingzoo.test import parallel_api_test, parallel_seed_test
    with _failures_named(f"{name}: PettingZoo parallel_api_test"), _quiet():
        parallel_api_test(factory(), num_cycles=num_cycles)
    with _failures_named(f"{name}: PettingZoo parallel_seed_test"), _quiet():
        parallel_seed_test(factory, num_cycles=num_cycles)
    probe = _par(factory())
    for difficulty in probe.difficulties:
        for seed in range(_EPISODES_PER_DIFFICULTY):
            where = f"{name} (difficulty={difficulty}, seed={seed})"
            options = {"difficulty": difficulty}
            with _failures_named(where):
                rounds, states = _play_rounds_checked(_par(factory()), seed, options, num_cycles)
                _check_round_replay(_par(factory()), seed, options, rounds, states)
    for agent in probe.possible_agents:
        for status in sorted(FAULT_STATUSES):
            for rounds_before in _FORFEIT_POINTS:
                where = f"{name}: forfeit({agent!r}, {status!r}) after {rounds_before} rounds"
                with _failures_named(where):
                    _check_parallel_forfeit(_par(factory()), {agent: status}, rounds_before)
    if len(probe.possible_agents) >= 2:
        pair = dict.fromkeys(probe.possible_agents[:2], "crashed")
        with _failures_named(f"{name}: forfeit_all({pair})"):
            _check_parallel_forfeit(_par(factory()), pair, 1)


def _play_rounds_checked(
    env: ParallelScenario, seed: int, options: dict[str, Any], max_rounds: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """Play one random episode of rounds checking the wire API for every agent."""
    env.reset(seed=seed, options=options)
    rng = random.Random(seed)
    rounds: list[dict[str, Any]] = []
    states = [_json(env.render_state(), "render_state()")]
    for _ in range(max_rounds):
        if not env.agents:
            break
        actions = {}
        for agent in env.agents:
            _json(env.observe_json(agent), f"observe_json({agent!r})")
            actions[agent] = _checked_action(env, agent, rng, simultaneous=True)
        env.step(actions)
        rounds.append(actions)
        states.append(_json(env.render_state(), "render_state()"))
    render = env.render()
    if render is not None and not isinstance(render, str):
        raise AssertionError(f"render() returned {type(render).__name__}, expected str or None")
    return rounds, states


def _check_round_replay(
    env: ParallelScenario,
    seed: int,
    options: dict[str, Any],
    rounds: list[dict[str, Any]],
    states: list[str],
) -> None:
    env.reset(seed=seed, options=options)
    replayed = [_json(env.render_state(), "render_state()")]
    for actions in rounds:
        env.step(actions)
        replayed.append(_json(env.render_state(), "render_state()"))
    _compare_states(states, replayed)


def _check_parallel_forfeit(env: ParallelScenario, faults: dict[str, str], rounds: int) -> None:
    env.reset(seed=rounds)
    rng = random.Random(rounds)
    returns = dict.fromkeys(env.possible_agents, 0.0)
    for _ in range(rounds):
        if not env.agents:
            return
        actions = {}
        for agent in env.agents:
            legal = env.legal_actions(agent)
            actions[agent] = rng.choice(legal) if legal else _wire(env.action_space(agent).sample())
        env.step(actions)
        for other, reward in env.rewards.items():
            returns[other] += reward
    if not set(faults) <= set(env.agents):
        return
    env.forfeit_all(faults)
    for other, reward in env.rewards.items():
        returns[other] += reward
    if env.agents:
        raise AssertionError(f"agents {env.agents} are still live after the forfeit")
    if not all(math.isfinite(value) for value in returns.values()):
        raise AssertionError(f"returns are not finite: {returns}")
    honest = [value for agent, value in returns.items() if agent not in faults]
    if honest and max(returns[agent] for agent in faults) >= min(honest):
        raise AssertionError(f"a faulting agent's return is not below the others': {returns}")
    for other in env.possible_agents:
        legal = env.legal_actions(other)
        if legal:
            raise AssertionError(f"legal_actions({other!r}) is {legal!r} after the episode ended")
        _json(env.observe_json(other), f"observe_json({other!r})")
    _json(env.render_state(), "render_state()")
    env.forfeit_all(faults)
    if env.agents:
        raise AssertionError("a second forfeit revived the episode")


def _as_factory(factory_or_id: str | ScenarioFactory) -> ScenarioFactory:
    if isinstance(factory_or_id, str):
        scenario_id = factory_or_id
        return lambda: make(scenario_id)
    return factory_or_id


@contextlib.contextmanager
def _failures_named(where: str) -> Iterator[None]:
    """Re-raise any failure inside as an AssertionError prefixed with ``where``."""
    try:
        yield
    except _KitError:
        raise
    except AssertionError as exc:
        raise _KitError(f"{where}: {exc}") from exc
    except Exception as exc:
        raise _KitError(f"{where}: {type(exc).__name__}: {exc}") from exc


class _KitError(AssertionError):
    """An AssertionError already prefixed with where it happened."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence PettingZoo's progress prints and its inapplicable advice."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        for message in _ADVISORY_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="pettingzoo")
        yield


def _check_identity(env: AnyScenario) -> None:
    name = env.full_id
    # A wrapped PettingZoo environment keeps PettingZoo's own name as its id.
    expected = (
        env.scenario_id if name.startswith("pettingzoo:") else f"{env.scenario_id}-v{env.version}"
    )
    if name != expected:
        raise AssertionError(f"{name}: full_id does not match scenario_id and version")
    if env.metadata.get("name") != name:
        raise AssertionError(f"{name}: metadata['name'] is {env.metadata.get('name')!r}")
    if env.metadata.get("is_parallelizable") is not env.parallel:
        raise AssertionError(
            f"{name}: metadata['is_parallelizable'] must be {env.parallel} "
            f"({'parallel' if env.parallel else 'AEC'})"
        )


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} is not JSON-serialisable ({exc}): {value!r}") from exc


def _wire(value: Any) -> Any:
    """Return what ``value`` becomes after a trip over the wire protocol."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return json.loads(_json(value, "action"))


def _same(a: Any, b: Any) -> bool:
    """Equality that tells ``True`` from ``1`` and ``1.0`` from ``1``."""
    return type(a) is type(b) and a == b


def _play_checked(
    env: Scenario, seed: int, options: dict[str, Any], max_steps: int
) -> tuple[list[Any], list[str]]:
    """Play one random episode checking the wire API at every step.

    Returns:
        The actions played and the JSON of ``render_state`` after reset and each step.

    """
    env.reset(seed=seed, options=options)
    rng = random.Random(seed)
    actions: list[Any] = []
    states = [_json(env.render_state(), "render_state()")]
    for _ in range(max_steps):
        if not env.agents or env.episode_over:
            break
        agent = env.agent_selection
        if env.terminations[agent] or env.truncations[agent]:
            env.step(None)
            continue
        for other in env.agents:
            _json(env.observe_json(other), f"observe_json({other!r})")
        action = _checked_action(env, agent, rng)
        env.step(action)
        actions.append(action)
        states.append(_json(env.render_state(), "render_state()"))
    render = env.render()
    if render is not None and not isinstance(render, str):
        raise AssertionError(f"render() returned {type(render).__name__}, expected str or None")
    return actions, states


def _checked_action(
    env: AnyScenario, agent: str, rng: random.Random, *, simultaneous: bool = False
) -> Any:
    """Check legal_actions/is_legal for ``agent`` and pick a random legal action.

    Turn-based scenarios must refuse the acting agent's actions from everyone else;
    in a simultaneous round every live agent acts, so that check is skipped.
    """
    legal = env.legal_actions(agent)
    if legal is None:
        action = _wire(env.action_space(agent).sample())
        _expect_legal(env, agent, action)
        _check_garbage(env, agent, None)
        return action
    _json(legal, f"legal_actions({agent!r})")
    if not isinstance(legal, list) or not legal:
        raise AssertionError(
            f"legal_actions({agent!r}) is {legal!r} for the acting agent; expected a "
            "non-empty list (or None for a non-discrete action set)"
        )
    for action in legal:
        _expect_legal(env, agent, _wire(action))
    others = [] if simultaneous else [other for other in env.agents if other != agent]
    for other in others:
        if _legal(env, other, _wire(legal[0])):
            raise AssertionError(
                f"is_legal({other!r}, {legal[0]!r}) is True while it is {agent}'s turn"
            )
    _check_garbage(env, agent, legal)
    return _wire(rng.choice(legal))


def _legal(env: AnyScenario, agent: str, action: Any) -> bool:
    try:
        result = env.is_legal(agent, action)
    except Exception as exc:
        raise AssertionError(
            f"is_legal({agent!r}, {action!r}) raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(result, bool):
        raise AssertionError(
            f"is_legal({agent!r}, {action!r}) returned {result!r}, expected a bool"
        )
    return result


def _expect_legal(env: AnyScenario, agent: str, action: Any) -> None:
    if not _legal(env, agent, action):
        raise AssertionError(
            f"is_legal({agent!r}, {action!r}) is False for a legal action (after a JSON round trip)"
        )


def _check_garbage(env: AnyScenario, agent: str, legal: list[Any] | None) -> None:
    for garbage in GARBAGE_ACTIONS:
        listed = legal is not None and any(_same(garbage, action) for action in legal)
        if _legal(env, agent, garbage) and legal is not None and not listed:
            raise AssertionError(
                f"is_legal({agent!r}, {garbage!r}) is True but {garbage!r} is not in "
                "legal_actions()"
            )


def _check_replay(
    env: Scenario,
    seed: int,
    options: dict[str, Any],
    actions: list[Any],
    states: list[str],
) -> None:
    """Replay ``actions`` from the same seed and compare every state."""
    env.reset(seed=seed, options=options)
    replayed = [_json(env.render_state(), "render_state()")]
    for action in actions:
        while env.terminations[env.agent_selection] or env.truncations[env.agent_selection]:
            env.step(None)
        env.step(action)
        replayed.append(_json(env.render_state(), "render_state()"))
    _compare_states(states, replayed)


def _compare_states(states: list[str], replayed: list[str]) -> None:
    for index, (first, second) in enumerate(zip(states, replayed, strict=True)):
        if first != second:
            raise AssertionError(f"replay diverged after {index} steps: {first} != {second}")


def _check_forfeits(factory: ScenarioFactory, name: str) -> None:
    probe = _aec(factory())
    for agent in probe.possible_agents:
        for status in sorted(FAULT_STATUSES):
            for moves in _FORFEIT_POINTS:
                where = f"{name}: forfeit({agent!r}, {status!r}) after {moves} moves"
                with _failures_named(where):
                    _check_forfeit(_aec(factory()), agent, status, moves)


def _check_forfeit(env: Scenario, agent: str, status: str, moves: int) -> None:
    env.reset(seed=moves)
    rng = random.Random(moves)
    returns = dict.fromkeys(env.agents, 0.0)
    for _ in range(moves):
        acting = env.agent_selection
        if env.episode_over or env.terminations[acting] or env.truncations[acting]:
            return
        legal = env.legal_actions(acting)
        env.step(rng.choice(legal) if legal else _wire(env.action_space(acting).sample()))
        for other, reward in env.rewards.items():
            returns[other] += reward
    if agent not in env.agents or env.episode_over:
        return
    env.forfeit(agent, status)
    for other, reward in env.rewards.items():
        returns[other] += reward
    if not env.episode_over:
        raise AssertionError(
            "the episode is not over (some agent neither terminated nor truncated)"
        )
    if not all(math.isfinite(value) for value in returns.values()):
        raise AssertionError(f"returns are not finite: {returns}")
    lowest = min(returns.values())
    if returns[agent] > lowest:
        raise AssertionError(f"the faulting agent's return is not the lowest: {returns}")
    _check_over(env, agent, status)


def _check_over(env: Scenario, agent: str, status: str) -> None:
    """After a forfeit: nothing is legal, state is JSON, forfeiting again is harmless."""
    for other in env.possible_agents:
        legal = env.legal_actions(other)
        if legal:
            raise AssertionError(f"legal_actions({other!r}) is {legal!r} after the episode ended")
        _json(env.observe_json(other), f"observe_json({other!r})")
    _json(env.render_state(), "render_state()")
    env.forfeit(agent, status)
    if not env.episode_over:
        raise AssertionError("a second forfeit revived the episode")
    for _ in range(len(env.possible_agents)):
        if not env.agents:
            break
        env.step(None)
    if env.agents:
        raise AssertionError(f"agents {env.agents} remain after stepping every dead agent")
