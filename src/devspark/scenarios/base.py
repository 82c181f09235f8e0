"""The base class of every scenario: a PettingZoo AEC environment plus the wire API.

A scenario is a PettingZoo :class:`~pettingzoo.AECEnv` (so PettingZoo's ``api_test``
and ``seed_test`` apply to it, and any PettingZoo tooling can drive it) with a second,
JSON-only face used by the match runner on its hot path:

* :meth:`Scenario.observe_json` and :meth:`Scenario.legal_actions` build what is sent
  to an agent over the wire protocol;
* :meth:`Scenario.is_legal` validates whatever came back (any JSON value);
* :meth:`Scenario.forfeit` applies the scenario's rule for an agent fault;
* :meth:`Scenario.render_state` is the full state stored in replays.

Subclasses declare their identity in class attributes (``scenario_id``, ``version``,
``domains``, ``players``, ``difficulties``), implement the abstract methods, and are
registered with :func:`devspark.scenarios.register`.
"""

from __future__ import annotations

import abc
import json
import random
import re
from typing import Any, ClassVar

import gymnasium
from pettingzoo import AECEnv

from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.scenarios.options import OptionSpec, difficulty_spec

DOMAINS: frozenset[str] = frozenset(
    {"game", "planning", "reasoning", "collaboration", "adversarial"}
)
"""The domains a scenario may declare."""

FAULT_STATUSES: frozenset[str] = frozenset(
    {"timeout", "error", "invalid_action", "crashed", "limit_exceeded", "protocol_error"}
)
"""The agent statuses :meth:`Scenario.forfeit` accepts."""

DIFFICULTY_LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)
"""The difficulty scale shared by all scenarios."""

_SCENARIO_ID = re.compile(r"[a-z][a-z0-9_]*")


class ScenarioCore(metaclass=abc.ABCMeta):
    """What every scenario shares, turn-based or simultaneous: identity, options, spaces.

    :class:`Scenario` (PettingZoo AEC, turn-based) and
    :class:`~devspark.scenarios.parallel.ParallelScenario` (PettingZoo Parallel,
    simultaneous moves) both derive from it. It holds the declared identity, the
    validated construction options, the seeded random generator, the cached
    observation and action spaces, text rendering and the abstract JSON wire face the
    match runner uses.

    Attributes:
        scenario_id: Short name without version, e.g. ``"tictactoe"``.
        version: Version number; ``full_id`` is ``f"{scenario_id}-v{version}"``.
        domains: Subset of :data:`DOMAINS`.
        players: ``(min, max)`` number of agents.
        difficulties: Accepted difficulty levels; ``(1,)`` when not meaningful.
        full_id: Versioned id, e.g. ``"tictactoe-v1"`` (set for every subclass).
        metadata: PettingZoo metadata (``name`` is ``full_id``).
        default_options: The options given to the constructor.
        difficulty: The difficulty of the current episode.

    """

    scenario_id: ClassVar[str]
    version: ClassVar[int] = 1
    domains: ClassVar[tuple[str, ...]] = ()
    players: ClassVar[tuple[int, int]] = (2, 2)
    difficulties: ClassVar[tuple[int, ...]] = (1,)
    full_id: ClassVar[str] = "scenario"
    parallel: ClassVar[bool] = False
    """True for simultaneous-move scenarios (PettingZoo Parallel API)."""
    metadata: ClassVar[dict[str, Any]] = {
        "name": "scenario",
        "render_modes": ["ansi"],
        "is_parallelizable": False,
    }

    possible_agents: list[str]
    agents: list[str]
    rewards: dict[str, float]
    render_mode: str | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "scenario_id" not in vars(cls) and "version" not in vars(cls):
            return
        _check_class_attributes(cls)
        cls.full_id = f"{cls.scenario_id}-v{cls.version}"
        if "metadata" not in vars(cls):
            cls.metadata = {
                "name": cls.full_id,
                "render_modes": ["ansi"],
                "is_parallelizable": cls.parallel,
            }

    def _init_core(self, render_mode: str | None, options: dict[str, Any]) -> None:
        """Validate the construction options and set the shared attributes.

        Raises:
            InvalidArgumentError: An option is out of range.

        """
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidArgumentError(
                f"render_mode={render_mode!r} is not supported by {self.full_id}; "
                f"expected one of {self.metadata['render_modes']} or None"
            )
        if "difficulty" in options:
            self._check_difficulty(options["difficulty"])
        num_players = options.get("num_players", self.players[0])
        low, high = self.players
        if type(num_players) is not int or not low <= num_players <= high:
            raise InvalidArgumentError(
                f"num_players={num_players!r} is out of range for {self.full_id}; "
                f"expected an int in [{low}, {high}]"
            )
        self.render_mode = render_mode
        self.default_options: dict[str, Any] = dict(options)
        self.difficulty: int = self.difficulties[0]
        self.possible_agents = [f"player_{i}" for i in range(num_players)]
        self.agents = []
        self.rewards = {}
        self._seed: int | None = None
        self._rng: random.Random | None = None
        self._observation_spaces: dict[str, gymnasium.spaces.Space[Any]] = {}
        self._action_spaces: dict[str, gymnasium.spaces.Space[Any]] = {}

    @classmethod
    def option_specs(cls) -> tuple[OptionSpec, ...]:
        """The reset options this scenario accepts (see :func:`~devspark.scenarios.options.check_options`).

        Every scenario has ``difficulty`` (one of :attr:`difficulties`); a scenario
        with more options extends this tuple.
        """
        return (difficulty_spec(cls.difficulties),)

    def _begin_reset(self, seed: int | None, options: dict[str, Any] | None) -> dict[str, Any]:
        """Merge the reset options, set the difficulty and reseed; return the options.

        Unknown keys are ignored here (PettingZoo's API test resets with arbitrary
        options); :func:`~devspark.scenarios.options.check_options` refuses them where
        a match is specified (the API, :func:`devspark.arena.match.make_for`).

        Raises:
            InvalidArgumentError: ``difficulty`` is not one of :attr:`difficulties`.

        """
        merged = {**self.default_options, **options} if options else self.default_options
        difficulty = merged.get("difficulty")
        self.difficulty = (
            self.difficulties[0] if difficulty is None else self._check_difficulty(difficulty)
        )
        if seed is not None:
            self._seed = seed
            self._rng = None
        return merged

    @property
    def rng(self) -> random.Random:
        """The episode's random generator, seeded by ``reset`` (created lazily)."""
        rng = self._rng
        if rng is None:
            rng = self._rng = random.Random(self._seed)
        return rng

    @property
    @abc.abstractmethod
    def episode_over(self) -> bool:
        """Whether the current episode has ended for every agent."""

    def _check_difficulty(self, difficulty: Any) -> int:
        if type(difficulty) is not int or difficulty not in self.difficulties:
            raise InvalidArgumentError(
                f"difficulty={difficulty!r} is not supported by {self.full_id}; "
                f"expected one of {list(self.difficulties)}"
            )
        return difficulty

    def _check_fault(self, agent: str, status: str) -> bool:
        """Validate :meth:`forfeit` arguments; False when the episode is already over.

        Args:
            agent: The faulting agent.
            status: One of :data:`FAULT_STATUSES`.

        Returns:
            Whether the forfeit should be applied (the episode is still running).

        Raises:
            InvalidArgumentError: Unknown agent or status.

        """
        self._check_agent(agent)
        if status not in FAULT_STATUSES:
            raise InvalidArgumentError(
                f"status={status!r} is not a fault status; expected one of {sorted(FAULT_STATUSES)}"
            )
        return bool(self.agents) and not self.episode_over

    # ------------------------------------------------------------ spaces

    def observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        """Return the observation space of ``agent`` (the same object every call).

        Args:
            agent: One of :attr:`possible_agents`.

        Returns:
            The space, built on first use by :meth:`_build_observation_space`.

        """
        space = self._observation_spaces.get(agent)
        if space is None:
            self._check_agent(agent)
            space = self._observation_spaces[agent] = self._build_observation_space(agent)
        return space

    def action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        """Return the action space of ``agent`` (the same object every call).

        Args:
            agent: One of :attr:`possible_agents`.

        Returns:
            The space, built on first use by :meth:`_build_action_space`.

        """
        space = self._action_spaces.get(agent)
        if space is None:
            self._check_agent(agent)
            space = self._action_spaces[agent] = self._build_action_space(agent)
        return space

    @property
    def observation_spaces(self) -> dict[str, gymnasium.spaces.Space[Any]]:
        """Observation space per possible agent (for PettingZoo tools that read the dict)."""
        return {agent: self.observation_space(agent) for agent in self.possible_agents}

    @property
    def action_spaces(self) -> dict[str, gymnasium.spaces.Space[Any]]:
        """Action space per possible agent (for PettingZoo tools that read the dict)."""
        return {agent: self.action_space(agent) for agent in self.possible_agents}

    def _check_agent(self, agent: str) -> None:
        if agent not in self.possible_agents:
            raise InvalidArgumentError(
                f"agent={agent!r} is not an agent of {self.full_id}; "
                f"expected one of {self.possible_agents}"
            )

    # ----------------------------------------------------------- rendering

    def render(self) -> str:
        """Text rendering of the current state (``ansi``).

        Returns:
            :meth:`render_text` of :meth:`render_state`.

        """
        return self.render_text(self.render_state())

    @classmethod
    def render_text(cls, state: Any) -> str:
        """Draw a :meth:`render_state` value as text (boards, grids) for terminals.

        Used by ``devspark replay show`` on states read back from a replay, so it
        must work from the JSON value alone. Scenarios override it.

        Args:
            state: A value returned by :meth:`render_state` (after a JSON round trip).

        Returns:
            By default one ``key: compact JSON`` line per key of a dict state, or the
            compact JSON of any other state.

        """
        if isinstance(state, dict):
            return "\n".join(
                f"{key}: {json.dumps(value, separators=(',', ':'))}"
                for key, value in sorted(state.items())
            )
        return json.dumps(state, separators=(",", ":"))

    def close(self) -> None:  # noqa: B027  # optional hook, a no-op by default
        """Release resources (none by default)."""

    # ---------------------------------------------------- abstract: scenarios

    @abc.abstractmethod
    def _new_episode(self, options: dict[str, Any]) -> None:
        """Build the state of a new episode (called at the end of ``reset``).

        The bookkeeping is already reset; :attr:`rng` and :attr:`difficulty` are set.

        Args:
            options: The merged reset options.

        """

    @abc.abstractmethod
    def _build_observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        """Build the observation space of ``agent`` (called once per agent)."""

    @abc.abstractmethod
    def _build_action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        """Build the action space of ``agent`` (called once per agent)."""

    @abc.abstractmethod
    def observe_json(self, agent: str) -> Any:
        """JSON-serialisable observation sent to ``agent`` over the wire protocol.

        Args:
            agent: One of :attr:`possible_agents`.

        Returns:
            Plain dicts, lists, ints, floats, strings, bools and None only.

        """

    @abc.abstractmethod
    def legal_actions(self, agent: str) -> list[Any] | None:
        """JSON-serialisable legal actions of ``agent`` now.

        Args:
            agent: One of :attr:`possible_agents`.

        Returns:
            The legal actions (empty when the agent cannot act now or the episode is
            over), or ``None`` when the action set is not discrete.

        """

    @abc.abstractmethod
    def is_legal(self, agent: str, action: Any) -> bool:
        """Whether ``action`` (any decoded JSON value) is legal for ``agent`` now.

        Never raises, whatever the value.

        Args:
            agent: The agent that sent the action.
            action: The decoded JSON value.

        Returns:
            True when the scenario would accept ``action`` from ``agent`` now.

        """

    @abc.abstractmethod
    def forfeit(self, agent: str, status: str) -> None:
        """Apply the scenario's rule for a fault of ``agent``, at any point.

        Args:
            agent: The faulting agent.
            status: One of :data:`FAULT_STATUSES`.

        """

    @abc.abstractmethod
    def render_state(self) -> Any:
        """JSON-serialisable full state, as stored in replays."""


class Scenario(ScenarioCore, AECEnv):  # type: ignore[misc]  # pettingzoo is untyped
    """Base class of every scenario (a PettingZoo AEC environment).

    Subclasses set the class attributes below, implement the abstract methods and
    build their episode state in :meth:`_new_episode`. The base class keeps the
    PettingZoo bookkeeping (``agents``, ``rewards``, ``terminations`` ...), the seeded
    random generator, the difficulty and the cached observation and action spaces.

    Args:
        render_mode: ``"ansi"`` or ``None``; :meth:`render` returns text either way.
        **options: Defaults for :meth:`reset` options (for example ``difficulty``),
            kept in :attr:`default_options` so the exact object can be rebuilt.
            ``num_players`` (construction only) picks the number of agents within
            :attr:`players`; it defaults to the minimum.

    Raises:
        InvalidArgumentError: An option is out of range.

    The identity attributes (``scenario_id``, ``version``, ``domains`` ...) are those
    of :class:`ScenarioCore`.

    """

    _cumulative_rewards: dict[str, float]
    terminations: dict[str, bool]
    truncations: dict[str, bool]
    infos: dict[str, dict[str, Any]]
    agent_selection: str

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        super().__init__()
        self._init_core(render_mode, options)
        self._cumulative_rewards = {}
        self.terminations = {}
        self.truncations = {}
        self.infos = {}
        self.agent_selection = self.possible_agents[0]
        self._skip_agent_selection: str | None = None

    # ----------------------------------------------------------------- episode

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Start a new episode, generating its instance procedurally.

        Args:
            seed: Seeds :attr:`rng`; ``None`` keeps drawing from the current generator
                (a fresh, OS-seeded one on the first reset).
            options: Override :attr:`default_options` for this episode, e.g.
                ``{"difficulty": 3}``. Unknown keys are ignored here (see
                :func:`~devspark.scenarios.options.check_options`).

        Raises:
            InvalidArgumentError: ``difficulty`` is not one of :attr:`difficulties`.

        """
        merged = self._begin_reset(seed, options)
        agents = self.possible_agents[:]
        self.agents = agents
        self.rewards = dict.fromkeys(agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(agents, 0.0)
        self.terminations = dict.fromkeys(agents, False)
        self.truncations = dict.fromkeys(agents, False)
        self.infos = {agent: {} for agent in agents}
        self.agent_selection = agents[0]
        self._skip_agent_selection = None
        self._new_episode(merged)

    @property
    def episode_over(self) -> bool:
        """Whether every agent is terminated or truncated (or already removed)."""
        terminations, truncations = self.terminations, self.truncations
        return all(terminations[a] or truncations[a] for a in self.agents)

    def _end_episode(self, rewards: dict[str, float]) -> None:
        """End the episode for every live agent, giving it ``rewards[agent]`` (0 if absent).

        Args:
            rewards: Final-step reward per agent.

        """
        for agent in self.agents:
            reward = rewards.get(agent, 0.0)
            self.rewards[agent] = reward
            self._cumulative_rewards[agent] += reward
            self.terminations[agent] = True

    def _dead_step(self, action: Any) -> None:
        """Handle :meth:`step` for a terminated or truncated agent (PettingZoo rules).

        Raises:
            FailedPreconditionError: Every agent has already been removed.

        """
        if self.agent_selection not in self.terminations:
            raise FailedPreconditionError(
                f"{self.full_id}: the episode is over and every agent has been removed; "
                "call reset()"
            )
        self._was_dead_step(action)

    # ---------------------------------------------------- abstract: AEC

    @abc.abstractmethod
    def observe(self, agent: str) -> Any:
        """PettingZoo observation of ``agent``, inside its observation space.

        Args:
            agent: One of :attr:`possible_agents`.

        """

    @abc.abstractmethod
    def step(self, action: Any) -> None:
        """Apply the action of :attr:`agent_selection` (PettingZoo AEC semantics).

        Args:
            action: An action from the agent's action space, or ``None`` for an agent
                that is already terminated or truncated.

        """

    @abc.abstractmethod
    def forfeit(self, agent: str, status: str) -> None:
        """Apply the scenario's rule for a fault of ``agent``, at any point.

        Implementations usually start with ``if not self._check_fault(agent, status):
        return`` and end with :meth:`_end_episode`.

        Args:
            agent: The faulting agent.
            status: One of :data:`FAULT_STATUSES`.

        """


def _check_class_attributes(cls: type[ScenarioCore]) -> None:
    """Validate a scenario's declared identity at class creation.

    Raises:
        InvalidArgumentError: A class attribute is missing or malformed.

    """
    name = cls.__qualname__
    scenario_id = getattr(cls, "scenario_id", None)
    if not isinstance(scenario_id, str) or not _SCENARIO_ID.fullmatch(scenario_id):
        raise InvalidArgumentError(f"{name}.scenario_id={scenario_id!r} must match [a-z][a-z0-9_]*")
    if type(cls.version) is not int or cls.version < 1:
        raise InvalidArgumentError(f"{name}.version={cls.version!r} must be an int >= 1")
    if not cls.domains or not set(cls.domains) <= DOMAINS:
        raise InvalidArgumentError(
            f"{name}.domains={cls.domains!r} must be a non-empty subset of {sorted(DOMAINS)}"
        )
    low, high = cls.players
    if not 1 <= low <= high:
        raise InvalidArgumentError(
            f"{name}.players={cls.players!r} must be (min, max), 1 <= min <= max"
        )
    if not cls.difficulties or not set(cls.difficulties) <= set(DIFFICULTY_LEVELS):
        raise InvalidArgumentError(
            f"{name}.difficulties={cls.difficulties!r} must be a non-empty subset of "
            f"{DIFFICULTY_LEVELS}"
        )
