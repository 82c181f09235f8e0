"""The host: service instances living inside a worker, and the tasks they handle.

A :class:`Host` runs inside a :class:`~devspark.worker.engine.Worker` (``devspark
worker``, or the server's embedded one). Its owner calls :meth:`Host.beat` every
heartbeat and :meth:`Host.wake` whenever work may have been queued; the host:

* **places** instances: each beat it takes up to ``instances`` of the unplaced ones
  (:meth:`HostBackend.claim_instances`) and starts their sandboxed workers on a few
  deploy threads, so a heartbeat never waits on a process start;
* **assigns** tasks: one dispatch thread claims queued tasks for the free workers
  (per task type), matches them to instances (:mod:`devspark.hosting.dispatch`:
  priority, then age; ``to`` one instance) and runs each on a bounded thread pool,
  where :meth:`~devspark.core.ports.ServiceWorker.serve` hands it to the agent;
* **answers** the agent's requests meanwhile (:mod:`devspark.hosting.requests`:
  ``svc.TYPE`` as a sub-task through the store, ``sys.*`` through the tool router),
  **streams** its progress (at most one store write per task every 100 ms; the last
  one is always written), and **stores** the outcome;
* **restarts** an instance whose worker faulted, after its backoff delay;
* **reports** every instance each beat, and **drains** those the store says must stop
  (stopped by a user, or replaced by a rolling update once the replacement serves):
  they take nothing new, finish their tasks, close, and are reported stopped.

:meth:`Host.stop` (the worker drains) claims nothing more, lets the tasks in flight end,
closes every instance and gives the instances and any unfinished task back to the
store, where another worker takes them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from devspark.bus.tools import ToolRouter
from devspark.core.errors import InvalidArgumentError
from devspark.core.lifecycle import LifecycleState
from devspark.core.ports import RequestHandler, TaskOutcome
from devspark.core.results import AgentStatus
from devspark.hosting.backoff import Backoff
from devspark.hosting.dispatch import Assignment, Dispatcher
from devspark.hosting.instance import Instance, InstanceReport, Placement
from devspark.hosting.ports import HostBackend, HostedTask, SubResult, WorkerFactory
from devspark.hosting.requests import TaskRequests

logger = logging.getLogger(__name__)

CLAIM_BATCH = 64
"""Most tasks of one type claimed at once (the dispatch thread claims again at once)."""


@dataclass(frozen=True, slots=True)
class HostConfig:
    """How a host runs.

    Attributes:
        instances: Most instances hosted at once (0: host none).
        max_threads: Most tasks handled at once (threads of the task pool).
        poll_s: Longest wait of the dispatch thread between two looks for tasks.
        deployers: Threads that start and stop instances' processes.
        progress_every_s: Least time between two stored progress reports of a task.
        backoff_base_s: First delay before restarting a failed instance.
        backoff_cap_s: Longest delay.
        stable_s: Healthy seconds after which an instance's failures are forgotten.
        result_poll_s: How often a parent waiting on a sub-task another worker runs
            looks at it in the store (one finished here wakes it at once).

    """

    instances: int = 32
    max_threads: int = 256
    poll_s: float = 0.2
    deployers: int = 4
    progress_every_s: float = 0.1
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    stable_s: float = 60.0
    result_poll_s: float = 0.25

    def __post_init__(self) -> None:
        if not 0 <= self.instances <= 4096:
            raise InvalidArgumentError(f"instances={self.instances} must be between 0 and 4096")
        if not 1 <= self.max_threads <= 4096:
            raise InvalidArgumentError(f"max_threads={self.max_threads} must be between 1 and 4096")
        if not 1 <= self.deployers <= 64:
            raise InvalidArgumentError(f"deployers={self.deployers} must be between 1 and 64")


class _Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: SubResult | None = None


class _Progress:
    """``on_progress`` of one task: stores the latest report at most every ``every_s``."""

    def __init__(
        self, backend: HostBackend, task_id: str, every_s: float, clock: Callable[[], float]
    ) -> None:
        self.backend, self.task_id, self.every_s, self.clock = backend, task_id, every_s, clock
        self.last = -float("inf")
        self.pending: Any = None
        self.has_pending = False

    def __call__(self, data: Any) -> None:
        now = self.clock()
        if now - self.last < self.every_s:
            self.pending, self.has_pending = data, True
            return
        self.last, self.has_pending = now, False
        self._store(data)

    def flush(self) -> None:
        if self.has_pending:
            self.has_pending = False
            self._store(self.pending)

    def _store(self, data: Any) -> None:
        try:
            self.backend.progress(self.task_id, data)
        except Exception:  # progress is best effort; the task goes on
            logger.exception("could not store the progress of task %s", self.task_id)


class Host:
    """Service instances hosted in this process and the tasks they handle.

    Args:
        backend: The store (placements, reports, tasks).
        make_workers: Builds an instance's sandboxed workers.
        config: Sizes and timings.
        tools: The ``sys.*`` request handler of an instance, by its id (default: a
            :class:`~devspark.bus.tools.ToolRouter` of this host's own, its tools shared
            by the instances hosted here).
        clock: Monotonic seconds (tests pass a fake one).

    """

    def __init__(
        self,
        backend: HostBackend,
        make_workers: WorkerFactory,
        *,
        config: HostConfig | None = None,
        tools: Callable[[str], RequestHandler] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or HostConfig()
        self.backend = backend
        self.make_workers = make_workers
        self.tools = tools or ToolRouter(self.capabilities_of).handler
        self.clock = clock
        self.served = 0
        """Tasks whose outcome was stored."""
        self._dispatcher = Dispatcher()
        self._lock = threading.RLock()
        self._running = 0
        self._idle = threading.Condition(self._lock)
        self._deploying: set[str] = set()
        self._reported: dict[str, InstanceReport] = {}
        self._next_scan = 0.0
        self._attention: set[str] = set()
        """Instances to look at in the next scan: in error (restart due?) or draining."""
        self._poked = True
        self._backlog = False
        self._waiters: dict[str, _Waiter] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._loop: threading.Thread | None = None
        self._tasks = ThreadPoolExecutor(self.config.max_threads, "devspark-task")
        self._deployers = ThreadPoolExecutor(self.config.deployers, "devspark-deploy")

    # ------------------------------------------------------------------ owner's API

    @property
    def instances(self) -> dict[str, Instance]:
        """The instances hosted now, by id (a copy)."""
        with self._lock:
            return dict(self._dispatcher.instances)

    def capabilities_of(self, instance_id: str) -> tuple[str, ...]:
        """The manifest capabilities of a hosted instance (none once it is gone)."""
        instance = self.instances.get(instance_id)
        return () if instance is None else instance.capabilities

    @property
    def running(self) -> int:
        """Tasks being handled now."""
        return self._running

    def start(self) -> None:
        """Start the dispatch thread (returns at once)."""
        if self._loop is not None:
            return
        self._loop = threading.Thread(target=self._run, name="devspark-host", daemon=True)
        self._loop.start()

    def wake(self) -> None:
        """Work may have been queued: look for it now instead of after ``poll_s``."""
        self._poked = True
        self._wake.set()

    def beat(self) -> None:
        """Place new instances, report every instance, drain those that must stop."""
        if not self._stopping.is_set():
            self._place()
        with self._lock:
            hosted = list(self._dispatcher.instances.values())
        reports = [instance.report() for instance in hosted]
        changed = [r for r in reports if self._reported.get(r.id) != r]
        orders = self.backend.report(changed)
        self._reported = {r.id: r for r in reports}
        for instance in hosted:
            if instance.id in orders.released:
                logger.warning("instance %s was given to another worker: closed", instance.id)
                with self._lock:
                    self._dispatcher.remove(instance)
                self._deployers.submit(instance.close)
            elif instance.id in orders.stop and not instance.draining:
                logger.info("instance %s drains: told to stop", instance.id)
                instance.drain()
                with self._lock:
                    self._dispatcher.refresh(instance)
                    self._attention.add(instance.id)
        self._close_drained()

    def stop(self, timeout: float = 60.0) -> None:
        """Claim nothing more, let the tasks in flight end, close and give everything back."""
        self._stopping.set()
        self._wake.set()
        if self._loop is not None and self._loop is not threading.current_thread():
            self._loop.join(timeout)
        deadline = self.clock() + timeout
        with self._idle:
            self._dispatcher.drop_waiting()  # still assigned in the store: release() requeues
            while self._running and self._idle.wait(max(0.0, deadline - self.clock())):
                pass
            if self._running:
                logger.warning("%d task(s) still running after %.0f s", self._running, timeout)
            hosted = list(self._dispatcher.instances.values())
        list(self._deployers.map(lambda instance: instance.close(), hosted))
        try:
            self.backend.release()
        except Exception:
            logger.exception("could not give the hosted instances back")
        self._tasks.shutdown(wait=False, cancel_futures=True)
        self._deployers.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ placing

    def _place(self) -> None:
        with self._lock:
            room = self.config.instances - len(self._dispatcher.instances)
        if room <= 0:
            return
        for placement in self.backend.claim_instances(room):
            build = functools.partial(self.make_workers, placement)
            instance = Instance(placement, build, backoff=self._backoff(), clock=self.clock)
            with self._lock:
                self._dispatcher.add(instance)
            self._deploy_later(instance)

    def _backoff(self) -> Backoff:
        c = self.config
        return Backoff(c.backoff_base_s, c.backoff_cap_s, c.stable_s)

    def _deploy_later(self, instance: Instance) -> None:
        with self._lock:
            if instance.id in self._deploying:
                return
            self._deploying.add(instance.id)
        self._deployers.submit(self._deploy, instance)

    def _deploy(self, instance: Instance) -> None:
        try:
            if self._stopping.is_set():
                return
            if not instance.deploy() and not instance.closed:
                logger.warning(
                    "instance %s failed to start: %s", instance.id, instance.report().error
                )
                self._watch(instance)
        finally:
            with self._lock:
                self._deploying.discard(instance.id)
                self._dispatcher.refresh(instance)
            self.wake()  # new capacity: tasks of its types may be waiting

    def _close_drained(self, candidates: list[Instance] | None = None) -> None:
        """Close the drained instances among ``candidates`` (default: every instance)."""
        with self._lock:
            pool = self._dispatcher.instances.values() if candidates is None else candidates
            drained = [i for i in pool if i.drained() and i.id in self._dispatcher.instances]
            for instance in drained:
                self._dispatcher.remove(instance)
        for instance in drained:
            self._deployers.submit(self._close, instance)

    def _close(self, instance: Instance) -> None:
        instance.close()
        try:
            self.backend.instance_stopped(instance.id)
        except Exception:
            logger.exception("could not record instance %s as stopped", instance.id)

    # ------------------------------------------------------------------ dispatching

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._wake.wait(self.config.poll_s):
                self._poked = True  # the periodic look, for work no one told us about
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._cycle()
            except Exception:  # a database blip must not end the host
                logger.exception("dispatching failed; trying again in %.1f s", self.config.poll_s)

    def _cycle(self) -> None:
        now = self.clock()
        if now >= self._next_scan:  # restarts and drains: every poll_s
            self._next_scan = now + self.config.poll_s
            self._scan(now)
        with self._lock:
            budget = self.config.max_threads - self._running - self._dispatcher.waiting
            free = self._dispatcher.free_capacity(min(budget, CLAIM_BATCH))
        # Claim when told of work (wake, a poll, a deploy) or when the last claim filled
        # its room; a freed worker alone does not claim: the queue was empty last time.
        claim, self._poked = self._poked or self._backlog, False
        claimed = self.backend.claim_tasks(free) if free and claim else []
        self._dispatch(claimed, now)
        if claim and free:
            taken: dict[str, int] = {}
            for task in claimed:
                taken[task.type] = taken.get(task.type, 0) + 1
            self._backlog = any(taken.get(kind, 0) >= room for kind, room in free.items())
            if self._backlog:
                self._wake.set()  # a type took all it had room for: there may be more queued

    def _scan(self, now: float) -> None:
        with self._lock:
            attention = [self._dispatcher.instances.get(i) for i in self._attention]
            self._attention.clear()
        for instance in attention:
            if instance is None or instance.closed:
                continue
            if instance.restart_due(now):
                logger.info("instance %s restarts after its backoff delay", instance.id)
                self._deploy_later(instance)
            elif instance.state is LifecycleState.ERROR or (
                instance.draining and not instance.drained()
            ):
                self._watch(instance)  # not due yet: look again at the next scan
        self._close_drained([i for i in attention if i is not None])

    def _watch(self, instance: Instance) -> None:
        """Look at ``instance`` at the next scans (it failed, or drains) until settled."""
        with self._lock:
            self._attention.add(instance.id)

    def _dispatch(self, claimed: list[HostedTask], now: float) -> None:
        with self._lock:
            self._dispatcher.offer(claimed, now)
            assignments = self._dispatcher.assign(now, self.config.max_threads - self._running)
            for assignment in assignments:
                if assignment.slot is not None:
                    self._running += 1
        for assignment in assignments:
            if assignment.slot is None:
                self._deployers.submit(self._give_up, assignment)
            else:
                self._tasks.submit(self._serve, assignment)

    def _give_up(self, assignment: Assignment) -> None:
        timed_out = assignment.refusal.startswith("no instance was free")
        outcome = TaskOutcome(
            ok=False,
            error=assignment.refusal,
            status=AgentStatus.TIMEOUT if timed_out else AgentStatus.OK,
        )
        self._store_outcome(assignment.task.id, outcome)

    # ------------------------------------------------------------------ serving

    def _serve(self, assignment: Assignment) -> None:
        task, instance, slot = assignment.task, assignment.instance, assignment.slot
        assert instance is not None and slot is not None
        try:
            try:
                if not self.backend.started(task.id, instance.id):
                    instance.give_back(slot)  # it timed out or went back meanwhile
                    return
            except Exception as exc:
                logger.exception("task %s could not be started", task.id)
                instance.give_back(slot)
                self._store_outcome(
                    task.id,
                    TaskOutcome(ok=False, status=AgentStatus.CRASHED, error=f"host: {exc}"),
                )
                return
            requests = TaskRequests(
                instance.capabilities,
                functools.partial(self._submit_and_wait, task.id),
                self.tools(instance.id),
            )
            progress = _Progress(self.backend, task.id, self.config.progress_every_s, self.clock)
            try:
                outcome = slot.worker.serve(
                    {"id": task.id, "type": task.type, "payload": task.payload},
                    timeout_ms=min(task.timeout_ms, instance.task_ms or task.timeout_ms),
                    on_progress=progress,
                    on_request=requests,
                )
            except Exception as exc:  # serve never raises by contract; a host bug is a fault
                logger.exception("serving task %s failed", task.id)
                outcome = TaskOutcome(ok=False, status=AgentStatus.CRASHED, error=f"host: {exc}")
            progress.flush()
            instance.release(slot, outcome)
            with self._lock:
                self._dispatcher.refresh(instance)
                if instance.draining or outcome.status is not AgentStatus.OK:
                    self._attention.add(instance.id)
            self._wake.set()
            self._store_outcome(task.id, outcome)
        finally:
            with self._idle:
                self._running -= 1
                self._dispatcher.refresh(instance)
                self._idle.notify_all()

    def _store_outcome(self, task_id: str, outcome: TaskOutcome) -> None:
        if outcome.ok:  # a parent waiting here has its answer before the store write
            self._resolve(task_id, SubResult("succeeded", outcome.result))
        try:
            final = self.backend.finish(task_id, outcome)
        except Exception:
            logger.exception("could not store the outcome of task %s", task_id)
            return
        with self._lock:
            self.served += 1
        if final is not None:
            self._resolve(task_id, final)
        elif not outcome.ok:
            self.wake()  # a fault with attempts left: queued again

    def _resolve(self, task_id: str, result: SubResult) -> None:
        with self._lock:
            waiter = self._waiters.get(task_id)
        if waiter is not None and not waiter.event.is_set():
            waiter.result = result
            waiter.event.set()

    def _submit_and_wait(
        self, parent_id: str, task_type: str, payload: Any, to: str | None, timeout_ms: int
    ) -> SubResult | str:
        deadline = self.clock() + timeout_ms / 1000
        task_id = self.backend.submit(parent_id, task_type, payload, to=to, timeout_ms=timeout_ms)
        waiter = _Waiter()
        with self._lock:
            self._waiters[task_id] = waiter
        self.wake()
        try:
            while True:
                left = deadline - self.clock()
                if left <= 0:
                    return f"no answer from svc.{task_type} within {timeout_ms} ms"
                if waiter.event.wait(min(left, self.config.result_poll_s)):
                    assert waiter.result is not None
                    return waiter.result
                with contextlib.suppress(Exception):  # a blip: look again later
                    found = self.backend.result(task_id)
                    if found is not None:
                        return found
        finally:
            with self._lock:
                self._waiters.pop(task_id, None)


__all__ = ["CLAIM_BATCH", "Host", "HostConfig", "Placement"]
