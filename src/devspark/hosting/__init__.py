"""Service agents hosted inside a worker: instances, their tasks and their requests.

:class:`Host` is the runtime (:mod:`devspark.hosting.host`); :class:`Instance` one
hosted instance with its lifecycle and restarts; :class:`Dispatcher` the matching of
claimed tasks to free workers; :class:`HostBackend` the store as the host sees it.
"""

from devspark.hosting.backoff import Backoff
from devspark.hosting.dispatch import Assignment, Dispatcher
from devspark.hosting.host import Host, HostConfig
from devspark.hosting.instance import Instance, InstanceReport, Placement, Slot
from devspark.hosting.ports import HostBackend, HostedTask, HostOrders, SubResult, WorkerFactory
from devspark.hosting.requests import MAX_REQUESTS_PER_TASK, TaskRequests

__all__ = [
    "MAX_REQUESTS_PER_TASK",
    "Assignment",
    "Backoff",
    "Dispatcher",
    "Host",
    "HostBackend",
    "HostConfig",
    "HostOrders",
    "HostedTask",
    "Instance",
    "InstanceReport",
    "Placement",
    "Slot",
    "SubResult",
    "TaskRequests",
    "WorkerFactory",
]
