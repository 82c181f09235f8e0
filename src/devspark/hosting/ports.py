"""What the hosting runtime needs from the platform: a narrow port, so fakes can test it.

:class:`HostBackend` is everything the :class:`~devspark.hosting.host.Host` asks of
the store (the database adapter is :class:`~devspark.hosting.database.DatabaseBackend`);
a :data:`WorkerFactory` builds the sandboxed workers of an instance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from devspark.core.ports import ServiceWorker, TaskOutcome
from devspark.hosting.instance import InstanceReport, Placement


@dataclass(frozen=True, slots=True)
class HostedTask:
    """A task claimed for this host.

    Attributes:
        id: The task's id.
        type: Its task type (``echo``).
        payload: What the agent gets.
        priority: 1-10, higher first.
        age: Sorts equal priorities, older (smaller) first (the submit time).
        to: The instance it is addressed to, if any.
        timeout_ms: How long it may run from now.

    """

    id: str
    type: str
    payload: Any
    priority: int = 5
    age: float = 0.0
    to: str | None = None
    timeout_ms: int = 30_000


@dataclass(frozen=True, slots=True)
class SubResult:
    """A finished sub-task as its waiting parent sees it."""

    status: str
    result: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether the sub-task succeeded."""
        return self.status == "succeeded"


@dataclass(frozen=True, slots=True)
class HostOrders:
    """What the store wants done after a heartbeat's report.

    Attributes:
        stop: Instances to drain, then close and report stopped.
        released: Instances no longer held here (the worker's lease ran out and they
            were given to others): close them at once and record nothing.

    """

    stop: frozenset[str] = frozenset()
    released: frozenset[str] = frozenset()


class HostBackend(Protocol):
    """The store as the host sees it: placements, reports, tasks and sub-tasks."""

    def claim_instances(self, limit: int) -> list[Placement]:
        """Up to ``limit`` instances no worker hosts yet, now placed here."""
        ...

    def report(self, reports: Sequence[InstanceReport]) -> HostOrders:
        """Store the reports of the instances that changed; what must stop."""
        ...

    def instance_stopped(self, instance_id: str, error: str = "") -> None:
        """The instance is stopped here (``offline``, or ``error`` with ``error``)."""
        ...

    def claim_tasks(self, free: Mapping[str, int]) -> list[HostedTask]:
        """Queued tasks for the free capacity per type.

        Tasks sent ``to`` one instance are taken by the worker that hosts it (and does not
        drain it), when their type has free capacity here.
        """
        ...

    def started(self, task_id: str, instance_id: str) -> bool:
        """The task goes to the agent of ``instance_id``; ``False``: it is no longer ours."""
        ...

    def progress(self, task_id: str, data: Any) -> None:
        """The latest progress the agent reported."""
        ...

    def finish(self, task_id: str, outcome: TaskOutcome) -> SubResult | None:
        """Store the outcome; the final task, or ``None`` when it went back to the queue."""
        ...

    def submit(
        self, parent_id: str, task_type: str, payload: Any, *, to: str | None, timeout_ms: int
    ) -> str:
        """Queue a sub-task of ``parent_id``; its id (a refusal raises a ``DevSparkError``)."""
        ...

    def result(self, task_id: str) -> SubResult | None:
        """The task once it is final, else ``None``."""
        ...

    def release(self) -> None:
        """This host stops: its instances and unfinished tasks go back to be placed again."""
        ...


WorkerFactory = Callable[[Placement], Sequence[ServiceWorker]]
"""Builds an instance's ``concurrency`` workers, not started (raises when the agent is unknown)."""


__all__ = ["HostBackend", "HostOrders", "HostedTask", "SubResult", "WorkerFactory"]
