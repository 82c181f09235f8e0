"""Agent isolation: launchers, cgroups, seccomp, staging and the host side of the protocol.

``open_worker`` is the one entry point the arena uses.
"""

from __future__ import annotations

from typing import Any

from devspark.core.isolation import IsolationLevel
from devspark.core.ports import AgentPackage, AgentWorker
from devspark.sandbox.isolation import require, unavailable_reason
from devspark.sandbox.trusted import TrustedWorker
from devspark.sandbox.worker import PlatformCaps, ProcessWorker


def open_worker(
    package: AgentPackage,
    level: IsolationLevel = IsolationLevel.SANDBOX,
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    caps: PlatformCaps | None = None,
) -> AgentWorker:
    """A worker for ``package`` at ``level``; the process starts at the first episode.

    Raises:
        FailedPreconditionError: when ``level`` is unavailable here (never a silent downgrade).

    """
    require(level, package.manifest.language)
    if level is IsolationLevel.TRUSTED:
        return TrustedWorker(package, seed=seed, params=params, caps=caps)
    return ProcessWorker(package, level=level, seed=seed, params=params, caps=caps)


__all__ = [
    "IsolationLevel",
    "PlatformCaps",
    "ProcessWorker",
    "TrustedWorker",
    "open_worker",
    "unavailable_reason",
]
