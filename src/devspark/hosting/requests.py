"""Answers the requests a service agent makes while it handles a task.

An agent's ``context.request(to, payload)`` and ``context.submit(task_type, payload)``
reach the host as ``request``/``submit`` lines (wire protocol, docs/agents.md). One
:class:`TaskRequests` answers those of one task:

* ``svc.TYPE`` (a request) or a ``submit``: a sub-task of the current task, queued
  through the store like any task (so any instance of any worker may take it), and
  waited for within the request's ``timeout_ms``; the answer is its result.
* ``sys.memory``, ``sys.consensus``, ``sys.discovery``, ``sys.teams``: the collaboration
  tools, answered by the host's tool router.
* anything else: ``ok: false`` "unknown target".

Every target needs a ``bus:request:PATTERN`` capability of the agent's manifest that
matches it (``bus:request:svc.*``; a submit of type ``echo`` needs one matching
``svc.echo``), and a task may make at most :data:`MAX_REQUESTS_PER_TASK` requests. A
refusal is an ``ok: false`` answer, counted in :attr:`TaskRequests.refused`; nothing
here raises into the agent's task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from devspark.bus.tools.access import require
from devspark.core.errors import DevSparkError, PermissionDeniedError
from devspark.core.ports import RequestHandler
from devspark.hosting.ports import SubResult

MAX_REQUESTS_PER_TASK = 32
"""Requests and submits one task may make; later ones are answered ``ok: false``."""


SubmitAndWait = Callable[[str, Any, str | None, int], SubResult | str]
"""``(task_type, payload, to, timeout_ms)`` -> the finished sub-task, or why it could not run."""


class TaskRequests:
    """The ``on_request`` handler of one task (a :data:`~devspark.core.ports.RequestHandler`).

    Args:
        capabilities: The agent's manifest capabilities.
        submit_and_wait: Queues a sub-task and waits for it.
        tools: Answers ``sys.*`` requests (``None``: they are refused).
        limit: Requests allowed for this task.

    """

    def __init__(
        self,
        capabilities: Sequence[str],
        submit_and_wait: SubmitAndWait,
        tools: RequestHandler | None = None,
        *,
        limit: int = MAX_REQUESTS_PER_TASK,
    ) -> None:
        self.capabilities = tuple(capabilities)
        self.submit_and_wait = submit_and_wait
        self.tools = tools
        self.limit = limit
        self.made = 0
        self.refused = 0

    def __call__(self, line: dict[str, Any]) -> dict[str, Any]:
        """Answer one ``request`` or ``submit`` line; never raises."""
        try:
            answer = self._answer(line)
        except Exception as exc:  # the agent gets an answer whatever happens here
            answer = _refusal(f"the host could not answer: {exc}")
        if not answer.get("ok"):
            self.refused += 1
        return answer

    def _answer(self, line: dict[str, Any]) -> dict[str, Any]:
        self.made += 1
        if self.made > self.limit:
            return _refusal(f"over the request limit ({self.limit} per task)")
        timeout_ms = _timeout(line.get("timeout_ms"))
        if line.get("type") == "submit":
            task_type = line.get("task_type")
            if not isinstance(task_type, str) or not task_type:
                return _refusal("a submit needs a task_type")
            to = line.get("to")
            if to is not None and not isinstance(to, str):
                return _refusal("to must be an instance id or null")
            return self._sub_task(task_type, line.get("payload"), to, timeout_ms)
        target = line.get("to")
        if not isinstance(target, str) or not target:
            return _refusal("a request needs a target (to)")
        if target.startswith("svc.") and len(target) > 4:
            return self._sub_task(target[4:], line.get("payload"), None, timeout_ms)
        if target.startswith("sys."):
            refused = _ungranted(self.capabilities, target)
            if refused:
                return _refusal(refused)
            if self.tools is None:
                return _refusal(f"{target} is not available here")
            return self.tools(line)
        return _refusal(f"unknown target {target!r} (svc.TYPE or sys.TOOL)")

    def _sub_task(
        self, task_type: str, payload: Any, to: str | None, timeout_ms: int
    ) -> dict[str, Any]:
        refused = _ungranted(self.capabilities, f"svc.{task_type}")
        if refused:
            return _refusal(refused)
        try:
            done = self.submit_and_wait(task_type, payload, to, timeout_ms)
        except DevSparkError as exc:
            return _refusal(str(exc))
        if isinstance(done, str):
            return _refusal(done)
        if done.ok:
            return {"ok": True, "payload": done.result}
        return _refusal(f"sub-task {done.status}: {done.error}".rstrip(": "))


def _timeout(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 1000


def _ungranted(capabilities: Sequence[str], target: str) -> str:
    """Why no ``bus:request:`` grant allows ``target`` (the tools' words); ``""`` if one does."""
    try:
        require(capabilities, "bus:request", target)
    except PermissionDeniedError as exc:
        return str(exc)
    return ""


def _refusal(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


__all__ = ["MAX_REQUESTS_PER_TASK", "SubmitAndWait", "TaskRequests"]
