"""Match specifications and results: what a match is and what it recorded."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class AgentStatus(StrEnum):
    """How an agent's part in an episode ended. Anything but ``ok`` is a fault."""

    OK = "ok"
    TIMEOUT = "timeout"
    ERROR = "error"
    INVALID_ACTION = "invalid_action"
    CRASHED = "crashed"
    LIMIT_EXCEEDED = "limit_exceeded"
    PROTOCOL_ERROR = "protocol_error"


FAULTS = frozenset(AgentStatus) - {AgentStatus.OK}


@dataclass(slots=True)
class Usage:
    """Resources one agent used in one episode."""

    wall_ms: float = 0.0
    cpu_s: float = 0.0
    peak_mb: float = 0.0


@dataclass(slots=True)
class AgentResult:
    """One agent's record of one episode."""

    agent: str
    role: str
    status: AgentStatus = AgentStatus.OK
    reward: float = 0.0
    moves: int = 0
    wall_ms: float = 0.0
    cpu_s: float = 0.0
    peak_mb: float = 0.0
    detail: str = ""
    logs: list[str] = field(default_factory=list)
    stderr: str = ""
    messages_sent: int = 0
    """Bus messages the agent published that were accepted and routed."""
    messages_refused: int = 0
    """Bus messages refused (over a host limit, malformed, or not granted by the manifest)."""

    def public(self) -> dict[str, Any]:
        """The stable JSON shape of ``devspark match run --json``."""
        return {
            "agent": self.agent,
            "status": str(self.status),
            "reward": self.reward,
            "moves": self.moves,
            "wall_ms": round(self.wall_ms, 3),
            "cpu_s": round(self.cpu_s, 4),
            "peak_mb": round(self.peak_mb, 2),
        }


@dataclass(slots=True)
class MatchResult:
    """What a match recorded, agents in seat order."""

    scenario: str
    seed: int
    agents: list[AgentResult]
    steps: int = 0
    wall_ms: float = 0.0
    replay: dict[str, Any] | None = None
    """The replay document, when the match was asked to record one."""

    def public(self) -> dict[str, Any]:
        """The stable JSON shape of ``devspark match run --json``."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "agents": [a.public() for a in self.agents],
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything recorded, including statuses' details, logs and stderr (no replay)."""
        data = asdict(self)
        data.pop("replay")
        return data
