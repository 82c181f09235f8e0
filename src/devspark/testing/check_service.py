"""Conformance kit for service agents: ``check_service(folder)``.

Checks, in order: the manifest is valid and has a ``[service]`` table; the agent starts
and says ``ready``; it answers one task of every type it handles (payload ``null``)
before the deadline without a fault (an error answer is fine: a ``null`` payload may
well be a bad one); and nothing of it survives when it is stopped. Requests it makes
are refused (``requests are not available here``), as they would be with no grants.
"""

from __future__ import annotations

from pathlib import Path

from devspark.arena.agents import resolve_agent
from devspark.core.errors import DevSparkError
from devspark.core.isolation import IsolationLevel
from devspark.core.lifecycle import LifecycleState
from devspark.core.results import AgentStatus
from devspark.sandbox import open_service
from devspark.sandbox.worker import PlatformCaps
from devspark.testing.check_agent import CheckReport, _close_and_find_survivors, _tail

CHECK_TASK_MS = 5000
"""The longest a check task may take (the manifest's ``task_ms`` when shorter)."""


def _refuse(line: dict[str, object]) -> dict[str, object]:
    return {"ok": False, "error": "requests are not available here"}


def check_service(
    folder: Path, *, isolation: IsolationLevel = IsolationLevel.SANDBOX
) -> CheckReport:
    """Run the service conformance kit on the agent in ``folder``."""
    report = CheckReport()
    try:
        package = resolve_agent(str(folder))
    except DevSparkError as exc:
        report.add("manifest", False, str(exc))
        return report
    service = package.manifest.service
    if service is None:
        report.add("manifest", False, f"{package.label} has no [service] table")
        return report
    report.add("manifest", True, f"{package.label} handles {', '.join(service.handles)}")
    try:
        worker = open_service(package, isolation, caps=PlatformCaps())
    except DevSparkError as exc:
        report.add("start", False, str(exc))
        return report
    try:
        worker.start()
        started = worker.lifecycle.state is LifecycleState.ONLINE
        report.add("start", started, f"lifecycle {worker.lifecycle.state.value}")
        if started:
            timeout_ms = min(service.task_ms, CHECK_TASK_MS)
            for index, task_type in enumerate(service.handles):
                if worker.lifecycle.state is LifecycleState.ERROR:
                    worker.start()
                task = {"id": f"check-{index}", "type": task_type, "payload": None}
                outcome = worker.serve(
                    task, timeout_ms=timeout_ms, on_progress=lambda data: None, on_request=_refuse
                )
                if outcome.status is not AgentStatus.OK:
                    detail = f"{outcome.status.value}: {_tail(outcome.error)}"
                elif outcome.ok:
                    detail = f"answered in {outcome.elapsed_ms:.0f} ms"
                else:
                    detail = f"answered with an error: {_tail(outcome.error)}"
                report.add(f"serves {task_type}", outcome.status is AgentStatus.OK, detail)
    finally:
        survivors = _close_and_find_survivors(worker)  # type: ignore[arg-type]  # both kinds are AgentWorkers too
    report.add(
        "clean stop",
        not survivors,
        "no process or cgroup left after stop" if not survivors else f"left behind: {survivors}",
    )
    return report
