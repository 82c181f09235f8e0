"""The store as a host sees it: :class:`DatabaseBackend` over the instance and task services.

Each method is one short transaction of :mod:`devspark.services.instances` or
:mod:`devspark.services.tasks` (the worker-side functions), in a session of its own, so
the task threads of a host never share one; starts and outcomes of tasks that arrive
together from several task threads are written in one transaction
(:class:`~devspark.hosting.batching.GroupCommit`). :func:`sandboxed_workers` builds the
sandboxed :class:`~devspark.sandbox.worker.ProcessWorker` processes of an instance.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.agents import resolve_agent
from devspark.core.errors import InvalidArgumentError
from devspark.core.isolation import IsolationLevel
from devspark.core.ports import ServiceWorker, TaskOutcome
from devspark.hosting.batching import GroupCommit
from devspark.hosting.instance import InstanceReport, Placement
from devspark.hosting.ports import HostedTask, HostOrders, SubResult, WorkerFactory
from devspark.sandbox.worker import PlatformCaps, ProcessWorker
from devspark.services import instances as svc_instances
from devspark.services import tasks as svc_tasks
from devspark.services.entrants import AgentStager
from devspark.services.live import LiveHub
from devspark.store.models import AgentVersionRow, TaskRow


class DatabaseBackend:
    """A :class:`~devspark.hosting.ports.HostBackend` on the platform's database.

    Args:
        session_factory: Sessions on the database.
        worker_id: The worker the host runs in (it holds the instances and tasks).
        hub: Where task events go (``task:<id>`` topics).
        stager: Unpacks uploaded agents' archives (``None``: built-ins only).

    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        worker_id: uuid.UUID,
        *,
        hub: LiveHub | None = None,
        stager: AgentStager | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.worker_id = worker_id
        self.hub = hub
        self.stager = stager
        self._order = itertools.count()
        # Task threads that start or finish tasks at the same moment share a transaction.
        self._starts: GroupCommit[tuple[str, str], bool] = GroupCommit(self._start_batch)
        self._finishes: GroupCommit[tuple[str, TaskOutcome], str | None] = GroupCommit(
            self._finish_batch
        )

    def claim_instances(self, limit: int) -> list[Placement]:
        """Unplaced instances, now placed here (an uploaded one is unpacked first)."""
        with self.session_factory() as session:
            claimed = svc_instances.claim_instances(session, self.worker_id, limit, hub=self.hub)
        placements = []
        for row in claimed:
            try:
                source = self._source(row.agent_version_id)
            except Exception as exc:
                self.instance_stopped(str(row.id), error=f"cannot unpack its agent: {exc}")
                continue
            placements.append(
                Placement(
                    id=str(row.id),
                    agent_ref=row.agent_ref,
                    handles=tuple(row.handles),
                    concurrency=row.concurrency,
                    replaces=None if row.replaces is None else str(row.replaces),
                    source=source,
                )
            )
        return placements

    def _source(self, version_id: uuid.UUID | None) -> str:
        if version_id is None:
            return ""
        if self.stager is None:
            raise LookupError("this worker has no artifact store for uploaded agents")
        with self.session_factory() as session:
            version = session.get(AgentVersionRow, version_id)
            if version is None:
                raise LookupError(f"agent version {version_id} no longer exists")
            return str(self.stager.folder(version))

    def report(self, reports: Sequence[InstanceReport]) -> HostOrders:
        """Store the changed reports and beat every instance held here."""
        rows = [
            svc_instances.InstanceReport(
                id=uuid.UUID(r.id),
                state=r.state.value,
                load=r.load,
                in_flight=r.in_flight,
                tasks_done=r.tasks_done + r.tasks_failed,  # the store counts every finished task
                tasks_failed=r.tasks_failed,
                restarts=r.restarts,
                error=r.error or None,
            )
            for r in reports
        ]
        with self.session_factory() as session:
            orders = svc_instances.report_instances(session, self.worker_id, rows, hub=self.hub)
        return HostOrders(
            stop=frozenset(str(i) for i in orders.stop),
            released=frozenset(str(i) for i in orders.released),
        )

    def instance_stopped(self, instance_id: str, error: str = "") -> None:
        """The instance is ``offline`` (``error`` with ``error``, retried later) and unplaced."""
        with self.session_factory() as session:
            svc_instances.instance_stopped(
                session, uuid.UUID(instance_id), error or None, hub=self.hub
            )

    def claim_tasks(self, free: Mapping[str, int]) -> list[HostedTask]:
        """Queued tasks for the free capacity (and those sent to an instance held here)."""
        with self.session_factory() as session:
            claimed = svc_tasks.claim_tasks(session, self.worker_id, free, hub=self.hub)
        return [
            HostedTask(
                id=str(task.id),
                type=task.type,
                payload=task.payload,
                priority=task.priority,
                age=float(next(self._order)),  # claims come oldest first within a priority
                to=None if task.to_instance is None else str(task.to_instance),
                timeout_ms=max(1, task.time_left_ms()),
            )
            for task in claimed
        ]

    def started(self, task_id: str, instance_id: str) -> bool:
        """The task is ``running`` on the instance (``False``: it timed out or went back).

        Starts that arrive together are written in one transaction.
        """
        return self._starts((task_id, instance_id))

    def _start_batch(self, starts: Sequence[tuple[str, str]]) -> list[bool]:
        pairs = [(uuid.UUID(task), uuid.UUID(instance)) for task, instance in starts]
        with self.session_factory() as session:
            return svc_tasks.tasks_started(session, pairs, hub=self.hub)

    def progress(self, task_id: str, data: Any) -> None:
        """Store and publish the latest progress."""
        with self.session_factory() as session:
            svc_tasks.task_progress(session, uuid.UUID(task_id), data, hub=self.hub)

    def finish(self, task_id: str, outcome: TaskOutcome) -> SubResult | None:
        """Store the outcome; the final task, or ``None`` (queued again, or not held here).

        Outcomes that arrive together are written in one transaction.
        """
        status = self._finishes((task_id, outcome))
        if status is None or not svc_tasks.is_final(status):
            return None
        if status == "succeeded":
            return SubResult(status, outcome.result)
        return SubResult(status, error=outcome.error)

    def _finish_batch(self, outcomes: Sequence[tuple[str, TaskOutcome]]) -> list[str | None]:
        pairs = [(uuid.UUID(task), outcome) for task, outcome in outcomes]
        with self.session_factory() as session:
            return svc_tasks.finish_tasks(session, self.worker_id, pairs, hub=self.hub)

    def submit(
        self, parent_id: str, task_type: str, payload: Any, *, to: str | None, timeout_ms: int
    ) -> str:
        """Queue a sub-task owned by the parent's owner, due within ``timeout_ms``."""
        target = None
        if to is not None:
            try:
                target = uuid.UUID(to)
            except ValueError:
                raise InvalidArgumentError(f"to={to!r} is not an instance id") from None
        spec = svc_tasks.TaskSpec(
            type=task_type,
            payload=payload,
            to=target,
            timeout_s=min(3600, max(1, math.ceil(timeout_ms / 1000))),
        )
        with self.session_factory() as session:
            parent = session.get(TaskRow, uuid.UUID(parent_id))
            owner = None if parent is None else parent.owner_id
            row = svc_tasks.submit_task(
                session, spec, owner_id=owner, parent_id=uuid.UUID(parent_id), hub=self.hub
            )
            return str(row.id)

    def result(self, task_id: str) -> SubResult | None:
        """The task once final."""
        with self.session_factory() as session:
            row = session.get(TaskRow, uuid.UUID(task_id))
            if row is None or not svc_tasks.is_final(row.status):
                return None
            return SubResult(row.status, row.result, row.error or "")

    def release(self) -> None:
        """This worker stops: its instances and unfinished tasks go back."""
        with self.session_factory() as session:
            svc_tasks.requeue_tasks_of(session, [self.worker_id], hub=self.hub)


def sandboxed_workers(
    level: IsolationLevel = IsolationLevel.SANDBOX, caps: PlatformCaps | None = None
) -> WorkerFactory:
    """A factory of sandboxed processes for an instance: ``concurrency`` of them.

    The agent is resolved from the placement (a built-in, or the folder an uploaded
    version was unpacked in); a reference that no longer resolves raises, and the
    host records the instance in ``error``.
    """

    def make(placement: Placement) -> Sequence[ServiceWorker]:
        package = resolve_agent(placement.agent_ref, source=placement.source or None)
        return [
            ProcessWorker(package, level=level, seed=index, caps=caps)
            for index in range(placement.concurrency)
        ]

    return make


__all__ = ["DatabaseBackend", "sandboxed_workers"]
