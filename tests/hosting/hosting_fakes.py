"""Fakes for the hosting tests: a scripted service worker, an in-memory store, a clock."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from devspark.core.errors import InvalidArgumentError
from devspark.core.lifecycle import Lifecycle, LifecycleState
from devspark.core.ports import RequestHandler, TaskOutcome
from devspark.core.results import AgentStatus
from devspark.hosting import HostedTask, HostOrders, InstanceReport, Placement, SubResult

Behaviour = Callable[[dict[str, Any], Callable[[Any], None], RequestHandler], TaskOutcome]


def echo(task: dict[str, Any], progress: Callable[[Any], None], ask: RequestHandler) -> TaskOutcome:
    """Answer with the payload."""
    return TaskOutcome(ok=True, result=task["payload"])


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeWorker:
    """A :class:`~devspark.core.ports.ServiceWorker` that runs ``behaviour`` in this process.

    ``fail_starts`` starts fail before one succeeds; a fault outcome "kills" it (error).
    """

    def __init__(
        self,
        behaviour: Behaviour = echo,
        *,
        capabilities: Sequence[str] = (),
        fail_starts: int = 0,
    ) -> None:
        self.behaviour = behaviour
        self.package = SimpleNamespace(
            manifest=SimpleNamespace(capabilities=list(capabilities), service=None)
        )
        self.lifecycle = Lifecycle()
        self.fail_starts = fail_starts
        self.starts = 0
        self.closed = 0

    def start(self) -> None:
        self.starts += 1
        self.lifecycle.move(LifecycleState.DEPLOYING, "start")
        if self.fail_starts > 0:
            self.fail_starts -= 1
            self.lifecycle.move(LifecycleState.ERROR, "start failed: crashed: boom")
            return
        self.lifecycle.move(LifecycleState.ONLINE, "ready")

    def serve(
        self,
        task: dict[str, Any],
        *,
        timeout_ms: int,
        on_progress: Callable[[Any], None],
        on_request: RequestHandler,
    ) -> TaskOutcome:
        outcome = self.behaviour(task, on_progress, on_request)
        if not outcome.ok and outcome.status is not AgentStatus.OK:
            self.lifecycle.move(LifecycleState.ERROR, outcome.error)
        return outcome

    def close(self) -> None:
        self.closed += 1
        if self.lifecycle.state is not LifecycleState.OFFLINE:
            self.lifecycle.move(LifecycleState.OFFLINE, "closed")


@dataclass
class StoredTask:
    """A task row of :class:`FakeBackend`."""

    task: HostedTask
    status: str = "queued"
    instance: str | None = None
    result: Any = None
    error: str = ""
    progress: list[Any] = field(default_factory=list)
    parent: str | None = None


class FakeBackend:
    """The store in memory (implements :class:`~devspark.hosting.HostBackend`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.placements: list[Placement] = []
        self.tasks: dict[str, StoredTask] = {}
        self.reports: list[list[InstanceReport]] = []
        self.stop: set[str] = set()
        self.released_ids: set[str] = set()
        self.stopped: dict[str, str] = {}
        self.local: set[str] = set()
        """Instances placed here and neither stopped nor told to stop."""
        self.released = False
        self._ids = itertools.count(1)

    def place(self, *placements: Placement) -> None:
        with self.lock:
            self.placements.extend(placements)

    def queue(self, task_type: str, payload: Any = None, **fields: Any) -> str:
        task_id = f"t{next(self._ids)}"
        task = HostedTask(task_id, task_type, payload, age=float(len(self.tasks)), **fields)
        with self.lock:
            self.tasks[task_id] = StoredTask(task)
        return task_id

    def status(self, task_id: str) -> str:
        return self.tasks[task_id].status

    # -- HostBackend
    def claim_instances(self, limit: int) -> list[Placement]:
        with self.lock:
            taken, self.placements = self.placements[:limit], self.placements[limit:]
            self.local.update(p.id for p in taken)
        return taken

    def report(self, reports: Sequence[InstanceReport]) -> HostOrders:
        with self.lock:
            self.reports.append(list(reports))
            return HostOrders(frozenset(self.stop), frozenset(self.released_ids))

    def instance_stopped(self, instance_id: str, error: str = "") -> None:
        with self.lock:
            self.stopped[instance_id] = error
            self.local.discard(instance_id)

    def claim_tasks(self, free: Mapping[str, int]) -> list[HostedTask]:
        room = dict(free)
        with self.lock:
            local_ids = self.local - self.stop - self.released_ids
            queued = [s for s in self.tasks.values() if s.status == "queued"]
            queued.sort(key=lambda s: (-s.task.priority, s.task.age))
            claimed = []
            for stored in queued:
                task = stored.task
                if task.to is not None and task.to not in local_ids:
                    continue
                if room.get(task.type, 0) <= 0:
                    continue
                room[task.type] -= 1
                stored.status = "assigned"
                claimed.append(task)
        return claimed

    def started(self, task_id: str, instance_id: str) -> bool:
        with self.lock:
            if self.tasks[task_id].status != "assigned":
                return False
            self.tasks[task_id].status = "running"
            self.tasks[task_id].instance = instance_id
            return True

    def progress(self, task_id: str, data: Any) -> None:
        with self.lock:
            self.tasks[task_id].progress.append(data)

    def finish(self, task_id: str, outcome: TaskOutcome) -> SubResult | None:
        with self.lock:
            stored = self.tasks[task_id]
            if outcome.ok:
                stored.status, stored.result = "succeeded", outcome.result
            elif outcome.status is AgentStatus.TIMEOUT:
                stored.status, stored.error = "timed_out", outcome.error
            else:
                stored.status, stored.error = "failed", outcome.error
            return SubResult(stored.status, stored.result, stored.error)

    def submit(
        self, parent_id: str, task_type: str, payload: Any, *, to: str | None, timeout_ms: int
    ) -> str:
        if task_type == "nobody.handles":
            raise InvalidArgumentError("type='nobody.handles': no instance handles it")
        task_id = self.queue(task_type, payload, to=to, timeout_ms=timeout_ms)
        self.tasks[task_id].parent = parent_id
        return task_id

    def result(self, task_id: str) -> SubResult | None:
        with self.lock:
            stored = self.tasks[task_id]
            if stored.status in ("succeeded", "failed", "timed_out"):
                return SubResult(stored.status, stored.result, stored.error)
        return None

    def release(self) -> None:
        self.released = True


def placement(
    instance_id: str, *handles: str, concurrency: int = 1, replaces: str | None = None
) -> Placement:
    """A placement of ``builtin:echo`` handling ``handles`` (default ``echo``)."""
    return Placement(
        instance_id, "builtin:echo", handles or ("echo",), concurrency, replaces=replaces
    )
