"""Any PettingZoo environment as a scenario, by name: ``pettingzoo:classic/connect_four_v3``.

The name is ``pettingzoo:FAMILY/MODULE`` where ``pettingzoo.FAMILY.MODULE`` is one of
PettingZoo's environment modules (``classic/tictactoe_v3``, ``classic/rps_v2`` ...).
Turn-based (AEC) modules are used through their ``env()``; simultaneous ones through
``parallel_env()`` converted with PettingZoo's own ``parallel_to_aec``. Agents see the
environment's observations converted to JSON (NumPy arrays become nested lists) and,
for discrete action spaces, the legal actions read from the ``action_mask`` in the
observation or the info, when there is one.

A fault ends the episode: the faulting agent's return drops to one below the lowest
return of the other agents, the others keep theirs.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
import threading
import warnings
from typing import Any, ClassVar

import gymnasium
import numpy as np

from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.scenarios.base import Scenario

PREFIX = "pettingzoo:"
_NAME = re.compile(r"pettingzoo:(?P<family>[a-z][a-z0-9_]*)/(?P<module>[a-z][a-z0-9_]*_v[0-9]+)")
_DOMAINS = {
    "classic": ("game",),
    "atari": ("game",),
    "butterfly": ("collaboration",),
    "sisl": ("collaboration",),
    "mpe": ("collaboration", "adversarial"),
    "magent": ("adversarial",),
}
_classes: dict[str, type[PettingZooScenario]] = {}
_lock = threading.Lock()


class PettingZooScenario(Scenario):
    """Base of the classes built by :func:`scenario_class`; wraps one PettingZoo env.

    Args:
        render_mode: ``"ansi"`` or ``None`` (text is the JSON of ``render_state``).
        **options: ``difficulty`` (only 1) and keyword arguments for the PettingZoo
            environment constructor under ``env_kwargs`` (a dict).

    """

    _factory: ClassVar[Any]
    _agent_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        env_kwargs = options.pop("env_kwargs", None) or {}
        if not isinstance(env_kwargs, dict):
            raise InvalidArgumentError(f"env_kwargs={env_kwargs!r} must be a dict")
        options.pop("num_players", None)  # fixed by the environment
        super().__init__(render_mode=render_mode, **options)
        self._env = type(self)._factory(**env_kwargs)
        self.possible_agents = list(self._env.possible_agents)
        self.agent_selection = self.possible_agents[0]
        self._reset_seed: int | None = None
        self._forfeited = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Reset the wrapped environment with ``seed`` (see :meth:`Scenario.reset`)."""
        self._reset_seed = seed
        super().reset(seed=seed, options=options)

    def _new_episode(self, options: dict[str, Any]) -> None:
        self._forfeited = False
        self._env.reset(seed=self._reset_seed)
        self._sync()

    def _sync(self) -> None:
        env = self._env
        self.agents = list(env.agents)
        self.rewards = dict(env.rewards)
        self._cumulative_rewards = dict(env._cumulative_rewards)
        self.terminations = dict(env.terminations)
        self.truncations = dict(env.truncations)
        self.infos = {agent: dict(info) for agent, info in env.infos.items()}
        if env.agents:
            self.agent_selection = env.agent_selection

    def _build_observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        space: gymnasium.spaces.Space[Any] = self._env.observation_space(agent)
        return space

    def _build_action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        space: gymnasium.spaces.Space[Any] = self._env.action_space(agent)
        return space

    def observe(self, agent: str) -> Any:
        """The wrapped environment's observation of ``agent``."""
        return self._env.observe(agent)

    def step(self, action: Any) -> None:
        """Step the wrapped environment (``action`` from the space, or JSON)."""
        agent = self.agent_selection
        if self._forfeited or self.terminations[agent] or self.truncations[agent]:
            if self._forfeited:
                self._dead_step(action)
                return
            self._env.step(None)
        else:
            self._env.step(self._from_json(agent, action))
        self._sync()

    # ------------------------------------------------------------ wire API

    def observe_json(self, agent: str) -> Any:
        """The observation as JSON: arrays become nested lists."""
        return to_json(self._env.observe(agent))

    def legal_actions(self, agent: str) -> list[Any] | None:
        """Legal actions from the action mask for discrete spaces, else ``None``."""
        space = self.action_space(agent)
        if not isinstance(space, gymnasium.spaces.Discrete):
            return None
        if not self._can_act(agent):
            return []
        start, count = int(space.start), int(space.n)
        mask = self._mask(agent)
        if mask is None:
            return list(range(start, start + count))
        return [start + i for i in range(count) if mask[i]]

    def is_legal(self, agent: str, action: Any) -> bool:
        """Whether the JSON ``action`` is legal for ``agent`` now (never raises)."""
        if agent not in self.possible_agents or not self._can_act(agent):
            return False
        space = self.action_space(agent)
        if isinstance(space, gymnasium.spaces.Discrete):
            legal = self.legal_actions(agent)
            return type(action) is int and legal is not None and action in legal
        try:
            return bool(space.contains(self._from_json(agent, action)))
        except Exception:  # any malformed value is simply illegal
            return False

    def forfeit(self, agent: str, status: str) -> None:
        """End the episode; the faulting agent ends one below the lowest other return."""
        if not self._check_fault(agent, status):
            return
        returns = self._cumulative_rewards
        others = [returns.get(a, 0.0) for a in self.possible_agents if a != agent]
        floor = min(others) if others else 0.0
        penalty = floor - returns.get(agent, 0.0) - 1.0
        self._forfeited = True
        for live in self.agents:
            self.rewards[live] = penalty if live == agent else 0.0
            self._cumulative_rewards[live] = returns.get(live, 0.0) + self.rewards[live]
            self.terminations[live] = True
        if agent not in self.agents:  # the faulting agent had already left
            self.rewards[agent] = penalty

    def render_state(self) -> dict[str, Any]:
        """The acting agent, the live agents, returns so far and the acting agent's view."""
        acting = self.agent_selection if self.agents else None
        return {
            "to_move": acting,
            "agents": list(self.agents),
            "returns": {a: float(v) for a, v in self._cumulative_rewards.items()},
            "observation": self.observe_json(acting) if acting and not self._forfeited else None,
            "forfeited": self._forfeited,
        }

    def close(self) -> None:
        """Close the wrapped environment."""
        self._env.close()

    # ------------------------------------------------------------ helpers

    def _can_act(self, agent: str) -> bool:
        return (
            not self._forfeited
            and agent in self.agents
            and agent == self.agent_selection
            and not (self.terminations[agent] or self.truncations[agent])
        )

    def _mask(self, agent: str) -> Any:
        observation = self._env.observe(agent)
        if isinstance(observation, dict) and "action_mask" in observation:
            return observation["action_mask"]
        return self._env.infos.get(agent, {}).get("action_mask")

    def _from_json(self, agent: str, action: Any) -> Any:
        space = self.action_space(agent)
        if isinstance(space, gymnasium.spaces.Discrete):
            return action
        if isinstance(space, gymnasium.spaces.Box | gymnasium.spaces.MultiDiscrete):
            return np.asarray(action, dtype=space.dtype).reshape(space.shape)
        return action


def to_json(value: Any) -> Any:
    """Convert an observation to plain JSON values (arrays to lists, NumPy scalars to numbers)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def scenario_class(name: str) -> type[PettingZooScenario]:
    """The scenario class wrapping PettingZoo environment ``name`` (built once).

    Args:
        name: ``pettingzoo:FAMILY/MODULE``, optionally with the ``-v1`` adapter version.

    Returns:
        A :class:`PettingZooScenario` subclass whose ``full_id`` is ``name``.

    Raises:
        NotFoundError: No such PettingZoo module (the message suggests near names), or
            its dependencies are not installed.

    """
    base_name = name.removesuffix("-v1")
    with _lock:
        cls = _classes.get(base_name)
        if cls is None:
            cls = _classes[base_name] = _build_class(base_name)
    return cls


def _build_class(name: str) -> type[PettingZooScenario]:
    match = _NAME.fullmatch(name)
    if match is None:
        raise NotFoundError(
            f"Unknown scenario {name!r}: PettingZoo environments are named "
            "'pettingzoo:FAMILY/MODULE', e.g. 'pettingzoo:classic/connect_four_v3'"
        )
    family, module_name = match["family"], match["module"]
    module = _import(family, module_name)
    if hasattr(module, "env"):
        factory = module.env
    elif hasattr(module, "parallel_env"):
        from pettingzoo.utils.conversions import parallel_to_aec

        parallel_factory = module.parallel_env

        def factory(**kwargs: Any) -> Any:
            return parallel_to_aec(parallel_factory(**kwargs))
    else:
        raise NotFoundError(f"{name!r}: module {module.__name__} has no env() or parallel_env()")
    count = len(factory().possible_agents)
    cls: type[PettingZooScenario] = type(
        f"PettingZoo_{module_name}",
        (PettingZooScenario,),
        {"__module__": __name__, "_factory": staticmethod(factory)},
    )
    cls.scenario_id = name
    cls.full_id = name
    cls.version = 1
    cls.domains = _DOMAINS.get(family, ("game",))
    cls.players = (count, count)
    cls.difficulties = (1,)
    cls.metadata = {"name": name, "render_modes": ["ansi"], "is_parallelizable": False}
    cls.__doc__ = f"PettingZoo's {family}/{module_name}, played over the DevSpark wire protocol."
    return cls


def _import(family: str, module_name: str) -> Any:
    try:
        with warnings.catch_warnings():  # PettingZoo's notices about its own future API
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(f"pettingzoo.{family}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith(f"pettingzoo.{family}"):
            raise NotFoundError(
                f"pettingzoo:{family}/{module_name} needs {exc.name!r}, which is not "
                f"installed (pip install 'pettingzoo[{family}]')"
            ) from exc
        raise NotFoundError(_unknown(family, module_name)) from None


def _unknown(family: str, module_name: str) -> str:
    message = f"Unknown PettingZoo environment 'pettingzoo:{family}/{module_name}'."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            package = importlib.import_module(f"pettingzoo.{family}")
    except ModuleNotFoundError:
        return f"{message} PettingZoo has no family {family!r}."
    names = [m.name for m in pkgutil.iter_modules(package.__path__) if re.search(r"_v\d+$", m.name)]
    close = difflib.get_close_matches(module_name, names, n=3)
    if close:
        return f"{message} Did you mean {' or '.join(f'pettingzoo:{family}/{c}' for c in close)}?"
    return f"{message} Available in {family}: {', '.join(sorted(names))}."
