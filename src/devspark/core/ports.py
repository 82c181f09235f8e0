"""Ports: the small protocols adapters implement (agent workers, for now)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


RequestHandler = Callable[[dict[str, Any]], dict[str, Any]]
"""Answers a request an agent makes through the host (``context.request``/``submit``).

It gets the agent's decoded ``request`` or ``submit`` line, its ``timeout_ms`` already
cut to what is left of the move's (or task's) time, and returns the answer without
``type`` and ``id``: ``{"ok": True, "payload": ...}`` or ``{"ok": False, "error": "..."}``.
It never raises: a refusal (no capability, over the rate limit) is an ``ok: False``.
"""


@dataclass(slots=True)
class TaskOutcome:
    """What a service agent did with one task: a result, or a fault."""

    ok: bool
    result: Any = None
    error: str = ""
    status: AgentStatus = AgentStatus.OK
    """``ok`` when the agent answered (even with a task error); a fault status otherwise."""
    elapsed_ms: float = 0.0
    logs: list[str] = field(default_factory=list)


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
        on_request: RequestHandler | None = None,
    ) -> Decision:
        """Ask for the action at ``step`` under the move deadline and time bank.

        ``messages`` are the bus messages delivered to the agent since its last move and
        ``bus_errors`` why its earlier publishes were refused (both told with the move).
        ``on_request`` answers the requests the agent makes during the move (without
        one, every request is answered ``ok: False``).
        """
        ...

    def finish(self, *, reward: float, status: AgentStatus) -> tuple[Usage, EpisodeLog]:
        """End the episode: tell the agent its result, return its usage and logs."""
        ...

    def close(self) -> None:
        """Stop the agent and everything it started."""
        ...


class ServiceWorker(Protocol):
    """A warm service agent that handles tasks: the instance host's only view of it."""

    package: AgentPackage
    lifecycle: Lifecycle

    def start(self) -> None:
        """Start the process and wait for ``ready`` (a failure moves the lifecycle to error)."""
        ...

    def serve(
        self,
        task: dict[str, Any],
        *,
        timeout_ms: int,
        on_progress: Callable[[Any], None],
        on_request: RequestHandler,
    ) -> TaskOutcome:
        """Hand one task (``{"id", "type", "payload"}``) to the agent's ``handle``."""
        ...

    def close(self) -> None:
        """Stop the agent and everything it started."""
        ...
