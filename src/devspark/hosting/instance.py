"""One hosted service instance: its sandboxed workers, lifecycle, counters and restarts.

An :class:`Instance` owns ``concurrency`` :class:`~devspark.core.ports.ServiceWorker`
processes of one agent. Its lifecycle (docs/agents.md#lifecycle) is the platform's:
``registered`` -> ``deploying`` -> ``online``, then ``busy`` while it handles a task and
``idle`` between tasks. A worker that faults (crash, timeout, garbage) has been killed by
its :meth:`~devspark.core.ports.ServiceWorker.serve`; the instance goes to ``error``,
takes no task, and is restarted once the tasks still on its other workers end and its
:class:`~devspark.hosting.backoff.Backoff` delay has passed (0.5 s, 1 s, 2 s ... 30 s).
An instance told to stop drains: it is reported ``maintenance``, takes nothing new,
and closes once its tasks in flight are done (then ``offline``).

Every method is safe from any thread; none blocks on an agent except :meth:`deploy`
and :meth:`close`, which start and stop processes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from devspark.core.lifecycle import Lifecycle, LifecycleState
from devspark.core.ports import ServiceWorker, TaskOutcome
from devspark.core.results import AgentStatus
from devspark.hosting.backoff import Backoff

_S = LifecycleState
_SERVING = frozenset({_S.ONLINE, _S.IDLE, _S.BUSY})


@dataclass(frozen=True, slots=True)
class Placement:
    """An instance a worker was given to host (what the store says about it).

    Attributes:
        id: The instance's id.
        agent_ref: ``builtin:NAME`` or ``agent:USER/NAME@VERSION``.
        handles: The task types it handles.
        concurrency: Sandboxed processes, so tasks at once.
        replaces: The instance a rolling update replaces with this one.
        source: The folder of an uploaded agent (``""`` for a built-in).

    """

    id: str
    agent_ref: str
    handles: tuple[str, ...]
    concurrency: int = 1
    replaces: str | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class InstanceReport:
    """What a heartbeat says about one instance."""

    id: str
    state: LifecycleState
    load: float
    in_flight: int
    tasks_done: int
    tasks_failed: int
    restarts: int
    error: str


@dataclass(slots=True)
class Slot:
    """One worker process of an instance and whether it is handling a task."""

    worker: ServiceWorker
    index: int
    busy: bool = False
    broken: bool = True
    """Not started yet, or its process faulted: started again at the next deploy."""


@dataclass(slots=True)
class _Counters:
    in_flight: int = 0
    done: int = 0
    failed: int = 0
    restarts: int = 0
    deploys: int = 0
    error: str = ""
    retry_at: float | None = None
    draining: bool = False
    closed: bool = False
    healthy_since: float = field(default=0.0)


class Instance:
    """A service instance hosted here.

    Args:
        placement: What to host.
        workers: Its ``placement.concurrency`` workers, not started, or what builds them
            at the first deploy (a build that raises is a failed deploy: ``error``, and
            tried again after the backoff delay, like a crash).
        backoff: The restart delays (0.5 s doubling to 30 s by default).
        clock: Monotonic seconds (tests pass a fake one).

    """

    def __init__(
        self,
        placement: Placement,
        workers: Sequence[ServiceWorker] | Callable[[], Sequence[ServiceWorker]],
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float],
    ) -> None:
        self.placement = placement
        self.id = placement.id
        self.handles = placement.handles
        self.slots: list[Slot] = []
        self.concurrency = placement.concurrency
        self.lifecycle = Lifecycle()
        self.backoff = backoff or Backoff()
        self.capabilities: tuple[str, ...] = ()
        """The agent's manifest capabilities (known once its workers are built)."""
        self.task_ms: int | None = None
        """The manifest's per-task deadline: no task runs longer here."""
        self._build = workers if callable(workers) else None
        if not callable(workers):
            self._adopt(workers)
        self._clock = clock
        self._lock = threading.Lock()
        self._c = _Counters()

    # ------------------------------------------------------------------ reading

    @property
    def state(self) -> LifecycleState:
        """The lifecycle state, ``maintenance`` while it drains."""
        with self._lock:
            return self._state()

    def _state(self) -> LifecycleState:
        if self._c.draining and self.lifecycle.state is not _S.OFFLINE:
            return _S.MAINTENANCE
        return self.lifecycle.state

    @property
    def in_flight(self) -> int:
        """Tasks being handled now."""
        return self._c.in_flight

    @property
    def draining(self) -> bool:
        """Told to stop: takes nothing new."""
        return self._c.draining

    @property
    def closed(self) -> bool:
        """Its workers are stopped (drained, or closed with the host)."""
        return self._c.closed

    @property
    def free(self) -> int:
        """Tasks it can take now (0 unless it serves and is not draining)."""
        with self._lock:
            return self._free()

    def _free(self) -> int:
        if self._c.draining or self.lifecycle.state not in _SERVING:
            return 0
        return sum(1 for slot in self.slots if not slot.busy and not slot.broken)

    def report(self) -> InstanceReport:
        """Its state, load and counters for the heartbeat."""
        with self._lock:
            c = self._c
            return InstanceReport(
                id=self.id,
                state=self._state(),
                load=c.in_flight / max(1, self.concurrency),
                in_flight=c.in_flight,
                tasks_done=c.done,
                tasks_failed=c.failed,
                restarts=c.restarts,
                error=c.error,
            )

    def restart_due(self, now: float) -> bool:
        """In ``error``, nothing in flight, not draining, and its backoff delay is over."""
        with self._lock:
            c = self._c
            return (
                self.lifecycle.state is _S.ERROR
                and not c.draining
                and not c.closed
                and c.in_flight == 0
                and c.retry_at is not None
                and now >= c.retry_at
            )

    def drained(self) -> bool:
        """Draining and nothing in flight: ready to close."""
        with self._lock:
            return self._c.draining and self._c.in_flight == 0 and not self._c.closed

    # ------------------------------------------------------------------ deploying

    def _adopt(self, workers: Sequence[ServiceWorker]) -> None:
        if not workers:
            raise ValueError("an instance needs at least one worker")
        self.slots = [Slot(worker, index) for index, worker in enumerate(workers)]
        self.concurrency = len(self.slots)
        manifest = workers[0].package.manifest
        self.capabilities = tuple(manifest.capabilities)
        self.task_ms = manifest.service.task_ms if manifest.service else None

    def begin_deploy(self) -> list[Slot] | None:
        """Move to ``deploying``; the slots whose process must be started.

        Only from ``registered``, ``error`` or ``offline``, with nothing in flight;
        ``None`` otherwise (no deploy: another one runs, or the instance serves).
        """
        with self._lock:
            c = self._c
            if c.closed or c.draining or c.in_flight:
                return None
            if self.lifecycle.state not in (_S.REGISTERED, _S.ERROR, _S.OFFLINE):
                return None
            if self.lifecycle.state is _S.ERROR:
                c.restarts += 1
            c.deploys += 1
            c.retry_at = None
            self.lifecycle.move(_S.DEPLOYING, f"deploy {c.deploys}")
            return [slot for slot in self.slots if slot.broken]

    def deploy(self) -> bool:
        """Start the instance's missing processes (blocks while they start); whether it serves."""
        slots = self.begin_deploy()
        if slots is None:
            return self.state in _SERVING
        if self._build is not None:
            try:
                self._adopt(self._build())
            except Exception as exc:
                return self._end_deploy(f"cannot build its workers: {exc}")
            self._build = None
            slots = list(self.slots)
        failure = ""
        for slot in slots:
            with contextlib.suppress(Exception):
                slot.worker.close()  # a faulted process is gone; this resets its state
            try:
                slot.worker.start()
            except Exception as exc:  # a start never raises by contract; be sure anyway
                failure = f"start failed: {exc}"
                continue
            if slot.worker.lifecycle.state is _S.ERROR:
                history = slot.worker.lifecycle.history
                failure = history[-1].reason if history else "start failed"
            else:
                slot.broken = False
        if self._c.closed:  # closed while starting: stop what this deploy started
            for slot in slots:
                with contextlib.suppress(Exception):
                    slot.worker.close()
                slot.broken = True
        return self._end_deploy(failure)

    def _end_deploy(self, failure: str) -> bool:
        with self._lock:
            c = self._c
            if c.closed or self.lifecycle.state is not _S.DEPLOYING:
                return False
            if failure:
                self._fail(failure)
                return False
            c.error = ""
            c.healthy_since = self._clock()
            self.lifecycle.move(_S.ONLINE, "every worker is ready")
            return True

    def _fail(self, error: str) -> None:
        c = self._c
        c.error = error[-2000:]
        delay = self.backoff.failed()
        c.retry_at = self._clock() + delay
        with contextlib.suppress(Exception):
            self.lifecycle.move(_S.ERROR, f"{error[:200]} (restart in {delay:.1f} s)")

    # ------------------------------------------------------------------ tasks

    def take(self) -> Slot | None:
        """Reserve a free worker for one task (``None`` when there is none)."""
        with self._lock:
            if self._free() == 0:
                return None
            slot = next(s for s in self.slots if not s.busy and not s.broken)
            slot.busy = True
            self._c.in_flight += 1
            self.lifecycle.move(_S.BUSY, "task")
            return slot

    def give_back(self, slot: Slot) -> None:
        """Free ``slot`` without counting a task (it never reached the agent)."""
        with self._lock:
            slot.busy = False
            self._c.in_flight -= 1
            if self.lifecycle.state is _S.BUSY and self._c.in_flight == 0:
                self.lifecycle.move(_S.IDLE, "no task in flight")

    def release(self, slot: Slot, outcome: TaskOutcome) -> None:
        """The task on ``slot`` ended with ``outcome``; a fault puts the instance in error."""
        with self._lock:
            c = self._c
            slot.busy = False
            c.in_flight -= 1
            faulted = not outcome.ok and outcome.status is not AgentStatus.OK
            if outcome.ok:
                c.done += 1
            else:
                c.failed += 1
            if faulted:
                slot.broken = True
                self._fail(f"{outcome.status.value}: {outcome.error}")
                return
            if self.lifecycle.state is _S.BUSY and c.in_flight == 0:
                self.lifecycle.move(_S.IDLE, "no task in flight")
            if self.lifecycle.state in _SERVING:
                self.backoff.healthy(self._clock())

    # ------------------------------------------------------------------ stopping

    def drain(self) -> None:
        """Take nothing new; :meth:`drained` once the tasks in flight are done."""
        with self._lock:
            self._c.draining = True

    def close(self, error: str = "") -> None:
        """Stop every worker and go ``offline`` (also when tasks are still in flight)."""
        with self._lock:
            if self._c.closed:
                return
            self._c.closed = True
            if error:
                self._c.error = error
        for slot in self.slots:
            with contextlib.suppress(Exception):
                slot.worker.close()
            slot.broken = True
        with self._lock:
            with contextlib.suppress(Exception):
                if self.lifecycle.state in (_S.IDLE, _S.ONLINE, _S.ERROR, _S.REGISTERED):
                    self.lifecycle.move(_S.MAINTENANCE, "stopping")
            with contextlib.suppress(Exception):
                self.lifecycle.move(_S.OFFLINE, "stopped")


__all__ = ["Instance", "InstanceReport", "Placement", "Slot"]
