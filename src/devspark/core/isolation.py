"""Isolation levels: how strongly an agent is kept apart from the host.

The words live in the core so that every layer (arena, services, API, CLI) can name a
level without importing the sandbox; :mod:`devspark.sandbox.isolation` checks whether a
level can run on this host and :func:`devspark.sandbox.open_worker` enforces it.
"""

from __future__ import annotations

from enum import StrEnum

from devspark.core.errors import InvalidArgumentError, did_you_mean


class IsolationLevel(StrEnum):
    """How strongly an agent is isolated from the host (docs/sandbox.md)."""

    TRUSTED = "trusted"
    """In-process, no isolation: baselines and tests only."""
    PROCESS = "process"
    """A child process with rlimits, a clean environment and cgroup accounting."""
    SANDBOX = "sandbox"
    """Every layer: unprivileged uid, bubblewrap, seccomp, rlimits, cgroups (default)."""
    GVISOR = "gvisor"
    """gVisor's runsc user-space kernel, with an OCI bundle of read-only mounts."""

    @classmethod
    def parse(cls, value: str) -> IsolationLevel:
        """Parse a level name.

        Args:
            value: A level name such as ``"sandbox"``.

        Returns:
            The level of that name.

        Raises:
            InvalidArgumentError: ``value`` names no level (the message lists the valid ones).

        """
        try:
            return cls(value)
        except ValueError:
            names = [level.value for level in cls]
            raise InvalidArgumentError(
                f"isolation {value!r} is not one of: {', '.join(names)}"
                + did_you_mean(value, names)
            ) from None


__all__ = ["IsolationLevel"]
