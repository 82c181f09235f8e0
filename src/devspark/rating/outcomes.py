"""Match outcomes as the rating models see them: who played and how each ranked."""

from __future__ import annotations

from dataclasses import dataclass

from devspark.core.errors import InvalidArgumentError
from devspark.core.results import MatchResult


@dataclass(frozen=True, slots=True)
class Outcome:
    """One match reduced to what ratings need.

    Attributes:
        agents: Agent ids in seat order (distinct).
        scores: Each agent's return; higher is better, equal scores tie.
        scenario: Versioned scenario id, e.g. ``"connect_four-v1"`` (for leaderboards).
        cpu_s: CPU seconds each agent used (empty when unknown).
        moves: Moves each agent made (empty when unknown).
        statuses: Each agent's final status (``"ok"`` or a fault; empty when unknown).

    Raises:
        InvalidArgumentError: Fewer than two agents, repeated agents, or lengths differ.

    """

    agents: tuple[str, ...]
    scores: tuple[float, ...]
    scenario: str = ""
    cpu_s: tuple[float, ...] = ()
    moves: tuple[int, ...] = ()
    statuses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.agents) < 2 or len(set(self.agents)) != len(self.agents):
            raise InvalidArgumentError(
                f"an outcome needs two or more distinct agents, got {self.agents!r}"
            )
        for name in ("scores", "cpu_s", "moves", "statuses"):
            values = getattr(self, name)
            if (name == "scores" or values) and len(values) != len(self.agents):
                raise InvalidArgumentError(
                    f"{name} has {len(values)} entries for {len(self.agents)} agents"
                )

    @classmethod
    def from_result(cls, result: MatchResult) -> Outcome:
        """The outcome of a played match (agents named by their reference)."""
        records = result.agents
        return cls(
            agents=tuple(r.agent for r in records),
            scores=tuple(r.reward for r in records),
            scenario=result.scenario,
            cpu_s=tuple(r.cpu_s for r in records),
            moves=tuple(r.moves for r in records),
            statuses=tuple(str(r.status) for r in records),
        )

    @property
    def ranks(self) -> tuple[int, ...]:
        """Competition ranks: 1 for the best score, tied scores share the better rank."""
        return tuple(1 + sum(other > score for other in self.scores) for score in self.scores)

    def points(self, agent: str) -> float:
        """Two-player result for ``agent``: 1 win, 0.5 draw, 0 loss.

        Raises:
            InvalidArgumentError: Not a two-player outcome, or ``agent`` did not play.

        """
        if len(self.agents) != 2 or agent not in self.agents:
            raise InvalidArgumentError(
                f"points() needs a two-player outcome with {agent!r}; got {self.agents!r}"
            )
        mine, theirs = (0, 1) if self.agents[0] == agent else (1, 0)
        if self.scores[mine] == self.scores[theirs]:
            return 0.5
        return 1.0 if self.scores[mine] > self.scores[theirs] else 0.0
