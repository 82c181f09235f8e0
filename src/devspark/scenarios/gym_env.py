"""Single-player scenarios as Gymnasium environments.

A one-agent scenario (``maze``, ``puzzles``) is also a plain :class:`gymnasium.Env`,
so reinforcement-learning code written for Gymnasium trains on it unchanged::

    env = devspark.scenarios.to_gymnasium("maze", difficulty=2)
    observation, info = env.reset(seed=7)
    observation, reward, terminated, truncated, info = env.step(env.action_space.sample())

The wrapper passes ``gymnasium.utils.env_checker.check_env`` for every built-in
single-player scenario (the conformance kit checks it).
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium

from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.scenarios.base import Scenario
from devspark.scenarios.registry import make


class ScenarioGymEnv(gymnasium.Env[Any, Any]):
    """A one-agent :class:`~devspark.scenarios.base.Scenario` behind the Gymnasium API.

    Args:
        scenario: A scenario with exactly one agent (not yet reset).

    Raises:
        InvalidArgumentError: The scenario seats more than one agent or is not turn-based.

    Attributes:
        scenario: The wrapped scenario.
        agent: Its only agent's name.

    """

    def __init__(self, scenario: Scenario) -> None:
        if not isinstance(scenario, Scenario) or len(scenario.possible_agents) != 1:
            raise InvalidArgumentError(
                f"{getattr(scenario, 'full_id', scenario)!r} is not a single-player scenario; "
                "only one-agent turn-based scenarios have a Gymnasium env"
            )
        self.scenario = scenario
        self.agent = scenario.possible_agents[0]
        self.observation_space = scenario.observation_space(self.agent)
        self.action_space = scenario.action_space(self.agent)
        self.metadata = {"render_modes": ["ansi"], "name": scenario.full_id}
        self.render_mode = scenario.render_mode
        self.spec = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode.

        Args:
            seed: Seeds the scenario's generator (same instance for the same seed).
            options: Reset options, e.g. ``{"difficulty": 3}``.

        Returns:
            The first observation and an empty info dict.

        """
        super().reset(seed=seed)
        self.scenario.reset(seed=seed, options=options)
        return self.scenario.observe(self.agent), {}

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply ``action`` (from :attr:`action_space`).

        Returns:
            Observation, reward, terminated, truncated and info, Gymnasium style.

        Raises:
            FailedPreconditionError: The episode is over; call :meth:`reset`.

        """
        scenario, agent = self.scenario, self.agent
        if agent not in scenario.agents or scenario.episode_over:
            raise FailedPreconditionError(
                f"{scenario.full_id}: the episode is over; call reset() before step()"
            )
        scenario.step(action)
        return (
            scenario.observe(agent),
            float(scenario.rewards[agent]),
            bool(scenario.terminations[agent]),
            bool(scenario.truncations[agent]),
            dict(scenario.infos[agent]),
        )

    def render(self) -> str:
        """The scenario's text rendering of the current state."""
        return self.scenario.render()

    def close(self) -> None:
        """Close the wrapped scenario."""
        self.scenario.close()


def to_gymnasium(scenario: str | Scenario, **options: Any) -> ScenarioGymEnv:
    """Expose a single-player scenario as a Gymnasium environment.

    Args:
        scenario: A registered id (``"maze"``, ``"maze-v1"``) or a scenario instance.
        **options: Constructor options when ``scenario`` is an id (e.g. ``difficulty``).

    Returns:
        The Gymnasium environment; call ``reset`` first.

    Raises:
        NotFoundError: Unknown id.
        InvalidArgumentError: The scenario is not single-player.

    """
    instance = make(scenario, **options) if isinstance(scenario, str) else scenario
    if not isinstance(instance, Scenario):
        raise InvalidArgumentError(
            f"{instance.full_id!r} is a simultaneous-move scenario; "
            "only one-agent turn-based scenarios have a Gymnasium env"
        )
    return ScenarioGymEnv(instance)
