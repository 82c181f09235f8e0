"""Agent lifecycle (docs/agents.md#lifecycle): states, allowed transitions, recorded history."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from devspark.core.errors import FailedPreconditionError


class LifecycleState(StrEnum):
    """Where an agent (or one running worker of it) stands."""

    REGISTERED = "registered"
    DEPLOYING = "deploying"
    ONLINE = "online"
    BUSY = "busy"
    IDLE = "idle"
    OFFLINE = "offline"
    ERROR = "error"
    MAINTENANCE = "maintenance"


_S = LifecycleState
TRANSITIONS: dict[LifecycleState, frozenset[LifecycleState]] = {
    _S.REGISTERED: frozenset({_S.DEPLOYING, _S.MAINTENANCE, _S.OFFLINE}),
    _S.DEPLOYING: frozenset({_S.ONLINE, _S.ERROR, _S.OFFLINE}),
    _S.ONLINE: frozenset({_S.BUSY, _S.IDLE, _S.OFFLINE, _S.ERROR, _S.MAINTENANCE}),
    _S.BUSY: frozenset({_S.IDLE, _S.OFFLINE, _S.ERROR}),
    _S.IDLE: frozenset({_S.BUSY, _S.OFFLINE, _S.ERROR, _S.MAINTENANCE}),
    _S.OFFLINE: frozenset({_S.DEPLOYING, _S.MAINTENANCE}),
    _S.ERROR: frozenset({_S.DEPLOYING, _S.OFFLINE, _S.MAINTENANCE}),
    _S.MAINTENANCE: frozenset({_S.DEPLOYING, _S.OFFLINE}),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded state change."""

    source: LifecycleState
    target: LifecycleState
    reason: str
    at: float


@dataclass(slots=True)
class Lifecycle:
    """A state machine that records every transition with its reason.

    A warm worker plays thousands of episodes, so the in-memory history keeps the most
    recent ``HISTORY`` transitions; ``transitions`` counts all of them. Durable records
    belong to the store.
    """

    HISTORY = 1000
    state: LifecycleState = LifecycleState.REGISTERED
    history: deque[Transition] = field(default_factory=lambda: deque(maxlen=Lifecycle.HISTORY))
    transitions: int = 0

    def move(self, target: LifecycleState, reason: str) -> None:
        """Move to ``target``; staying put is a no-op.

        Raises:
            FailedPreconditionError: when the transition is not allowed.

        """
        if target == self.state:
            return
        if target not in TRANSITIONS[self.state]:
            raise FailedPreconditionError(
                f"lifecycle: cannot go from {self.state.value!r} to {target.value!r} ({reason})"
            )
        self.history.append(Transition(self.state, target, reason, time.time()))
        self.transitions += 1
        self.state = target
