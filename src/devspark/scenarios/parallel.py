"""The base class of simultaneous-move scenarios: a PettingZoo Parallel environment.

Every live agent acts at once each round (the prisoner's dilemma, foraging). The
class is a PettingZoo :class:`~pettingzoo.ParallelEnv`, so ``parallel_api_test`` and
``parallel_seed_test`` apply, with the same JSON wire face as the turn-based
:class:`~devspark.scenarios.base.Scenario`. The match runner asks every live agent for
its move, then either steps the round with all actions or, when some agents faulted,
calls :meth:`ParallelScenario.forfeit_all` with every fault of the round.

Subclasses implement :meth:`_new_episode`, :meth:`_play_round` (the rules of one
round with every live agent's valid action), :meth:`_forfeit_rewards` (the final
rewards when agents fault), the spaces, :meth:`observe`, the wire face and
:meth:`render_state`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pettingzoo import ParallelEnv

from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.scenarios.base import FAULT_STATUSES, ScenarioCore


@dataclass(slots=True)
class RoundOutcome:
    """What one round did: rewards per agent and who is done.

    Attributes:
        rewards: Reward of the round per live agent (missing means 0).
        terminated: Agents whose episode ended by the rules (or ``all_terminated``).
        truncated: Agents cut off by a step limit (or ``all_truncated``).
        all_terminated: The episode ended for everyone by the rules.
        all_truncated: The episode was cut off for everyone.

    """

    rewards: dict[str, float] = field(default_factory=dict)
    terminated: set[str] = field(default_factory=set)
    truncated: set[str] = field(default_factory=set)
    all_terminated: bool = False
    all_truncated: bool = False


class ParallelScenario(ScenarioCore, ParallelEnv):  # type: ignore[misc]  # pettingzoo is untyped
    """Base class of simultaneous-move scenarios (a PettingZoo Parallel environment).

    The base class keeps the PettingZoo bookkeeping: ``agents`` holds the live agents
    and an agent leaves it in the round its episode ends, as ``parallel_api_test``
    expects. :attr:`rewards`, :attr:`terminations` and :attr:`truncations` describe the
    last round (or the forfeit); the match runner adds up the rewards.

    Args:
        render_mode: ``"ansi"`` or ``None``; :meth:`render` returns text either way.
        **options: Defaults for ``reset`` options (for example ``difficulty``);
            ``num_players`` (construction only) picks the number of agents within
            :attr:`players`, the minimum by default.

    Raises:
        InvalidArgumentError: An option is out of range.

    """

    parallel: ClassVar[bool] = True

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        super().__init__()
        self._init_core(render_mode, options)
        self.round = 0
        self.faults: dict[str, str] = {}
        self.terminations: dict[str, bool] = {}
        self.truncations: dict[str, bool] = {}

    # ----------------------------------------------------------------- episode

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Start a new episode, generating its instance procedurally.

        Args:
            seed: Seeds :attr:`rng`; ``None`` keeps drawing from the current generator.
            options: Override :attr:`default_options` for this episode, e.g.
                ``{"difficulty": 3}``. Unknown keys are ignored here (see
                :func:`~devspark.scenarios.options.check_options`).

        Returns:
            The PettingZoo observation and info of every agent.

        Raises:
            InvalidArgumentError: ``difficulty`` is not one of :attr:`difficulties`.

        """
        merged = self._begin_reset(seed, options)
        self.agents = self.possible_agents[:]
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self.round = 0
        self.faults = {}
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self._new_episode(merged)
        return {a: self.observe(a) for a in self.agents}, {a: {} for a in self.agents}

    @property
    def episode_over(self) -> bool:
        """Whether no agent is live any more."""
        return not self.agents

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[
        dict[str, Any],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        """Play one round with an action for every live agent (PettingZoo semantics).

        Args:
            actions: One action per live agent, from its action space or as sent over
                the wire (scenarios accept both).

        Returns:
            Observations, rewards, terminations, truncations and infos of the agents
            that were live at the start of the round.

        Raises:
            FailedPreconditionError: The episode is over.
            InvalidArgumentError: An action is missing or given for a dead agent.

        """
        live = self.agents
        self.play_round(actions)
        observations = {a: self.observe(a) for a in live}
        infos: dict[str, dict[str, Any]] = {a: {} for a in live}
        return observations, dict(self.rewards), self.terminations, self.truncations, infos

    def play_round(self, actions: dict[str, Any]) -> None:
        """Play one round like :meth:`step` without building PettingZoo observations.

        The match runner's hot path: afterwards :attr:`rewards`, :attr:`terminations`,
        :attr:`truncations` and :attr:`agents` describe the round.

        Raises:
            FailedPreconditionError: The episode is over.
            InvalidArgumentError: An action is missing or given for a dead agent.

        """
        if not self.agents:
            raise FailedPreconditionError(f"{self.full_id}: the episode is over; call reset()")
        live = self.agents
        if actions.keys() != set(live):
            raise InvalidArgumentError(
                f"{self.full_id}: actions are for {sorted(actions)}, "
                f"expected one per live agent {sorted(live)}"
            )
        outcome = self._play_round(actions)
        self.round += 1
        self._finish_round(live, outcome)

    def _finish_round(self, live: list[str], outcome: RoundOutcome) -> None:
        self.rewards = {a: float(outcome.rewards.get(a, 0.0)) for a in live}
        self.terminations = {a: outcome.all_terminated or a in outcome.terminated for a in live}
        self.truncations = {a: outcome.all_truncated or a in outcome.truncated for a in live}
        self.agents = [a for a in live if not (self.terminations[a] or self.truncations[a])]

    def forfeit(self, agent: str, status: str) -> None:
        """Apply the rule for one agent's fault: :meth:`forfeit_all` with that fault.

        Args:
            agent: The faulting agent.
            status: One of :data:`~devspark.scenarios.base.FAULT_STATUSES`.

        """
        self.forfeit_all({agent: status})

    def forfeit_all(self, faults: dict[str, str]) -> None:
        """End the episode because the agents in ``faults`` faulted in this round.

        The faulting agents get the lowest returns (:meth:`_forfeit_rewards` decides
        the final rewards); the episode ends for everyone. A no-op once it is over.

        Args:
            faults: Fault status per faulting agent, e.g. ``{"player_1": "timeout"}``.

        Raises:
            InvalidArgumentError: No fault, an unknown agent or an unknown status.

        """
        if not faults:
            raise InvalidArgumentError("faults must name at least one agent")
        for agent, status in faults.items():
            self._check_agent(agent)
            if status not in FAULT_STATUSES:
                raise InvalidArgumentError(
                    f"status={status!r} is not a fault status; "
                    f"expected one of {sorted(FAULT_STATUSES)}"
                )
        if not self.agents:
            return
        self.faults = dict(faults)
        outcome = RoundOutcome(rewards=self._forfeit_rewards(self.faults), all_terminated=True)
        self._finish_round(self.agents, outcome)

    # ---------------------------------------------------- abstract: parallel

    @abc.abstractmethod
    def observe(self, agent: str) -> Any:
        """PettingZoo observation of ``agent``, inside its observation space.

        Args:
            agent: One of :attr:`possible_agents`.

        """

    @abc.abstractmethod
    def _play_round(self, actions: dict[str, Any]) -> RoundOutcome:
        """Apply one round of the rules.

        Args:
            actions: A valid action (from the action space) per live agent.

        Returns:
            The round's rewards and which agents are done.

        """

    @abc.abstractmethod
    def _forfeit_rewards(self, faults: dict[str, str]) -> dict[str, float]:
        """Final rewards per live agent when ``faults`` end the episode.

        Every faulting agent must end with a lower return than every other agent.
        :attr:`faults` is already set when this is called (for :meth:`render_state`).

        Args:
            faults: Fault status per faulting agent.

        Returns:
            The reward of the final (forfeit) round per live agent.

        """
