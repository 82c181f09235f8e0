"""Ports: the small protocols adapters implement (agent workers, for now)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devspark.core.lifecycle import Lifecycle
from devspark.core.manifest import AgentManifest
from devspark.core.results import AgentStatus, Usage


@dataclass(frozen=True, slots=True)
class AgentPackage:
    """An agent folder resolved from a reference (``builtin:NAME`` or a path)."""

    ref: str
    folder: Path
    manifest: AgentManifest
    sha256: str

    @property
    def label(self) -> str:
        """``name@version`` for tables and logs."""
        return f"{self.manifest.name}@{self.manifest.version}"


@dataclass(slots=True)
class Decision:
    """What an agent did with one move: an action, or a fault status."""

    action: Any
    status: AgentStatus = AgentStatus.OK
    detail: str = ""
    elapsed_ms: float = 0.0
    published: list[dict[str, Any]] = field(default_factory=list)
    """Bus messages written during the move (``{"channel", "payload"}``), within host limits."""
    bus_errors: list[dict[str, Any]] = field(default_factory=list)
    """Publishes refused during the move: ``{"channel", "error", "count"}`` each."""


@dataclass(slots=True)
class EpisodeLog:
    """Logs and stderr an agent produced in one episode (both capped)."""

    logs: list[str] = field(default_factory=list)
    stderr: str = ""


class AgentWorker(Protocol):
    """A warm agent that plays episodes: the match runner's only view of an agent."""

    package: AgentPackage
    lifecycle: Lifecycle

    def reset(
        self, *, episode: int, scenario: str, role: str, seed: int, config: dict[str, Any]
    ) -> None:
        """Start an episode (starting or restarting the agent process when needed)."""
        ...

    def act(
        self,
        step: int,
        observation: Any,
        legal_actions: list[Any] | None,
        *,
        messages: Sequence[dict[str, Any]] = (),
        bus_errors: Sequence[dict[str, Any]] = (),
    ) -> Decision:
        """Ask for the action at ``step`` under the move deadline and time bank.

        ``messages`` are the bus messages delivered to the agent since its last move and
        ``bus_errors`` why its earlier publishes were refused (both told with the move).
        """
        ...

    def finish(self, *, reward: float, status: AgentStatus) -> tuple[Usage, EpisodeLog]:
        """End the episode: tell the agent its result, return its usage and logs."""
        ...

    def close(self) -> None:
        """Stop the agent and everything it started."""
        ...
