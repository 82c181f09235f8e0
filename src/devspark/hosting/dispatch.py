"""Matching claimed tasks to the idle capacity of the instances hosted here.

The store hands a host the queued tasks it has room for (highest priority first, then
the oldest); the :class:`Dispatcher` keeps those it could not place yet and gives each
task a worker of an instance that handles its type:

* tasks are taken in priority order (higher first), then by age (older first);
  a task that cannot be placed does not hold back a later one of another type;
* a task addressed to an instance (``to``) waits for that instance only, and is given
  up (:attr:`Assignment.refusal`) when that instance is not hosted here or drains;
* otherwise the instance that has waited longest since its last task takes it, so
  work spreads over every instance (each keeps its place in a per-type queue of
  instances with free workers).

The dispatcher is plain bookkeeping and not thread-safe: the host calls it under its lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from devspark.hosting.instance import Instance, Slot
from devspark.hosting.ports import HostedTask


@dataclass(slots=True)
class Assignment:
    """A task matched to a worker of an instance, or given up with a reason."""

    task: HostedTask
    instance: Instance | None = None
    slot: Slot | None = None
    refusal: str = ""


@dataclass(order=True, slots=True)
class _Waiting:
    key: tuple[int, float, int]
    task: HostedTask = field(compare=False)
    deadline: float = field(compare=False)


class Dispatcher:
    """Claimed tasks waiting for a worker, and the instances that have one free."""

    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}
        self._free: dict[str, dict[str, Instance]] = {}
        self._waiting: list[_Waiting] = []
        self._seq = itertools.count()

    # ------------------------------------------------------------------ instances

    def add(self, instance: Instance) -> None:
        """Host ``instance`` (it takes tasks once it serves and has a free worker)."""
        self.instances[instance.id] = instance
        self.refresh(instance)

    def remove(self, instance: Instance) -> None:
        """Stop offering tasks to ``instance``."""
        self.instances.pop(instance.id, None)
        for task_type in instance.handles:
            self._free.get(task_type, {}).pop(instance.id, None)

    def refresh(self, instance: Instance, *, to_back: bool = True) -> None:
        """Index ``instance`` again after its state or load changed.

        ``to_back`` moves it behind the other free instances (it just finished a task).
        """
        free = instance.free > 0 and instance.id in self.instances
        for task_type in instance.handles:
            queue = self._free.setdefault(task_type, {})
            if not free:
                queue.pop(instance.id, None)
            elif to_back or instance.id not in queue:
                queue.pop(instance.id, None)
                queue[instance.id] = instance

    # ------------------------------------------------------------------ tasks

    @property
    def waiting(self) -> int:
        """Claimed tasks not placed yet."""
        return len(self._waiting)

    def offer(self, tasks: Iterable[HostedTask], now: float) -> None:
        """Add claimed tasks; each may wait here until ``now`` plus its timeout."""
        for task in tasks:
            key = (-task.priority, task.age, next(self._seq))
            self._waiting.append(_Waiting(key, task, now + task.timeout_ms / 1000))
        self._waiting.sort()

    def free_capacity(self, budget: int) -> dict[str, int]:
        """Free workers per task type, each at most ``budget`` (nothing when ``budget`` <= 0)."""
        if budget <= 0:
            return {}
        free: dict[str, int] = {}
        for task_type, queue in self._free.items():
            count = 0
            for instance in queue.values():  # stop counting once the budget is reached
                count += instance.free
                if count >= budget:
                    break
            if count:
                free[task_type] = min(count, budget)
        return free

    def assign(self, now: float, budget: int) -> list[Assignment]:
        """Place what can be placed (at most ``budget``), in priority then age order.

        Also returns the tasks given up: addressed to an instance that is not hosted
        here or drains, or still unplaced at their deadline.
        """
        placed: list[Assignment] = []
        kept: list[_Waiting] = []
        for waiting in self._waiting:
            task = waiting.task
            if now >= waiting.deadline:
                placed.append(Assignment(task, refusal="no instance was free before its deadline"))
                continue
            if budget <= 0:
                kept.append(waiting)
                continue
            assignment = self._place(task)
            if assignment is None:
                kept.append(waiting)
                continue
            if assignment.slot is not None:
                budget -= 1
            placed.append(assignment)
        self._waiting = kept
        return placed

    def drop_waiting(self) -> list[HostedTask]:
        """Forget every unplaced task (the host stops); they are returned."""
        tasks = [waiting.task for waiting in self._waiting]
        self._waiting = []
        return tasks

    def _place(self, task: HostedTask) -> Assignment | None:
        if task.to is not None:
            instance = self.instances.get(task.to)
            if instance is None or instance.draining or instance.closed:
                return Assignment(task, refusal=f"instance {task.to} is not serving")
            if task.type not in instance.handles:
                return Assignment(task, refusal=f"instance {task.to} does not handle {task.type}")
            return self._take(task, instance)
        queue = self._free.get(task.type)
        while queue:
            instance = next(iter(queue.values()))
            assignment = self._take(task, instance)
            if assignment is not None:
                return assignment
            queue.pop(instance.id, None)  # stale: it has no free worker after all
        return None

    def _take(self, task: HostedTask, instance: Instance) -> Assignment | None:
        slot = instance.take()
        if slot is None:
            return None
        self.refresh(instance)
        return Assignment(task, instance, slot)


__all__ = ["Assignment", "Dispatcher"]
