"""Agent isolation: launchers, cgroups, seccomp, staging and the host side of the protocol.

``open_worker`` is the one entry point the arena uses; ``open_service`` the one the
instance host uses for service agents.
"""

from __future__ import annotations

from typing import Any

from devspark.core.errors import InvalidArgumentError
from devspark.core.isolation import IsolationLevel
from devspark.core.ports import AgentPackage, AgentWorker, ServiceWorker
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


def open_service(
    package: AgentPackage,
    level: IsolationLevel = IsolationLevel.SANDBOX,
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    caps: PlatformCaps | None = None,
) -> ServiceWorker:
    """A service worker for ``package`` at ``level``; ``start()`` it, then ``serve()`` tasks.

    Raises:
        FailedPreconditionError: when ``level`` is unavailable here.
        InvalidArgumentError: the agent has no ``[service]`` table.

    """
    if package.manifest.service is None:
        raise InvalidArgumentError(
            f"agent {package.label} is not a service agent: its manifest has no [service] table"
        )
    worker = open_worker(package, level, seed=seed, params=params, caps=caps)
    assert isinstance(worker, ProcessWorker | TrustedWorker)  # both serve tasks too
    return worker


__all__ = [
    "IsolationLevel",
    "PlatformCaps",
    "ProcessWorker",
    "TrustedWorker",
    "open_service",
    "open_worker",
    "unavailable_reason",
]
