"""The states a match and a tournament pass through, defined once for every layer.

Both enums are :class:`~enum.StrEnum`, so a member compares equal to its plain string
(``MatchStatus.QUEUED == "queued"``): the database columns, the API and the JSON stay
plain strings, and code that reads a row may compare it with the enum directly.
"""

from __future__ import annotations

from enum import StrEnum


class MatchStatus(StrEnum):
    """Where a match is in its life: queued, then running, then one final state."""

    QUEUED = "queued"
    """Stored and waiting for a worker to claim it."""
    RUNNING = "running"
    """Claimed by a worker and being played."""
    FINISHED = "finished"
    """Played to the end; its result is stored."""
    FAILED = "failed"
    """Could not be played (a platform fault, not an agent's)."""
    CANCELLED = "cancelled"
    """Stopped by a user or by its tournament before it finished."""


class TournamentStatus(StrEnum):
    """Where a tournament is in its life: created, then running, then one final state."""

    CREATED = "created"
    """Stored with its entrants; not started yet."""
    RUNNING = "running"
    """Its matches are being played."""
    FINISHED = "finished"
    """Every match was played; the standings are final."""
    CANCELLED = "cancelled"
    """Stopped by a user before it finished."""
    FAILED = "failed"
    """Stopped by a platform fault."""


class WorkerState(StrEnum):
    """What a worker process is doing, as its heartbeat reports it."""

    IDLE = "idle"
    """Alive, waiting for work."""
    BUSY = "busy"
    """Playing at least one match."""
    DRAINING = "draining"
    """Finishing the matches in flight before it exits; claims nothing new."""
    OFFLINE = "offline"
    """Stopped, or silent for longer than its lease."""


class TaskStatus(StrEnum):
    """Where a task is in its life: queued, assigned, running, then one final state."""

    QUEUED = "queued"
    """Stored and waiting for an instance that handles its type."""
    ASSIGNED = "assigned"
    """Taken by a worker for one of its instances; not yet handed to the agent."""
    RUNNING = "running"
    """Being handled by a service agent."""
    SUCCEEDED = "succeeded"
    """The agent returned a result."""
    FAILED = "failed"
    """The agent reported an error, or faulted, on its last attempt."""
    TIMED_OUT = "timed_out"
    """Not finished within its ``timeout_s``."""
    DEAD_LETTERED = "dead_lettered"
    """Given up on after ``max_attempts`` deliveries that never finished."""


MATCH_STATUSES: tuple[str, ...] = tuple(status.value for status in MatchStatus)
"""Every match status, in the order of a match's life (the CHECK constraint's list)."""

TOURNAMENT_STATUSES: tuple[str, ...] = tuple(status.value for status in TournamentStatus)
"""Every tournament status, in the order of a tournament's life."""

WORKER_STATES: tuple[str, ...] = tuple(state.value for state in WorkerState)
"""Every worker state (the CHECK constraint's list)."""

TASK_STATUSES: tuple[str, ...] = tuple(status.value for status in TaskStatus)
"""Every task status, in the order of a task's life (the CHECK constraint's list)."""

TASK_FINAL: frozenset[TaskStatus] = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.DEAD_LETTERED}
)
"""The task statuses a task never leaves."""

MATCH_FINAL: frozenset[MatchStatus] = frozenset(
    {MatchStatus.FINISHED, MatchStatus.FAILED, MatchStatus.CANCELLED}
)
"""The match statuses a match never leaves."""

TOURNAMENT_FINAL: frozenset[TournamentStatus] = frozenset(
    {TournamentStatus.FINISHED, TournamentStatus.FAILED, TournamentStatus.CANCELLED}
)
"""The tournament statuses a tournament never leaves."""

__all__ = [
    "MATCH_FINAL",
    "MATCH_STATUSES",
    "TASK_FINAL",
    "TASK_STATUSES",
    "TOURNAMENT_FINAL",
    "TOURNAMENT_STATUSES",
    "WORKER_STATES",
    "MatchStatus",
    "TaskStatus",
    "TournamentStatus",
    "WorkerState",
]
