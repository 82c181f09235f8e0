"""Hostile service agents (``SERVICE_CORPUS``) in the sandbox: a fault costs one task.

Each agent gets a task it attacks the host with. ``ProcessWorker.serve`` must return (never
raise) within the task's deadline plus a bounded margin, with a status in the case's
expected set; the process is gone (lifecycle ``error``) and none of the sandbox user's
processes it started survives; progress handed on and requests answered stay within the
host's caps. Restarted, the same worker then serves a well-behaved task.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from host_checks import find_survivors, uid_baseline

from devspark.arena.agents import resolve_agent
from devspark.core.lifecycle import LifecycleState
from devspark.core.manifest import load_manifest
from devspark.core.results import AgentStatus
from devspark.sandbox import IsolationLevel, ProcessWorker
from devspark.sandbox.worker import MAX_PROGRESS, MAX_REQUESTS
from devspark.testing.hostile import SERVICE_CORPUS, SERVICE_DIR, HostileCase

pytestmark = pytest.mark.security

TASK_MS = 1000
BOUND_S = 4.0  # the deadline, the kill and the reap


def test_service_corpus_lists_every_folder() -> None:
    folders = sorted(p.parent.name for p in SERVICE_DIR.glob("*/agent.toml"))
    assert folders == sorted(case.name for case in SERVICE_CORPUS)
    for case in SERVICE_CORPUS:
        manifest = load_manifest(case.folder)
        assert manifest.name == case.name
        assert manifest.language == case.language
        assert manifest.service is not None and manifest.service.handles == ["hostile"]
        assert case.expected <= {str(status) for status in AgentStatus}, case.name


@pytest.mark.parametrize("case", SERVICE_CORPUS, ids=lambda case: case.name)
def test_a_hostile_service_costs_only_its_own_task(case: HostileCase, sandbox_uid: int) -> None:
    baseline = uid_baseline(sandbox_uid)
    progress: list[Any] = []
    requests: list[dict[str, Any]] = []

    def on_request(line: dict[str, Any]) -> dict[str, Any]:
        requests.append(line)
        return {"ok": False, "error": "unknown target"}

    worker = ProcessWorker(resolve_agent(str(case.folder)), level=IsolationLevel.SANDBOX)
    try:
        worker.start()
        assert worker.lifecycle.state is LifecycleState.ONLINE
        started = time.monotonic()
        outcome = worker.serve(
            {"id": "t1", "type": "hostile", "payload": "attack"},
            timeout_ms=TASK_MS,
            on_progress=progress.append,
            on_request=on_request,
        )
        took = time.monotonic() - started
        assert str(outcome.status) in case.expected, outcome
        assert not outcome.ok and outcome.error
        assert took < TASK_MS / 1000 + BOUND_S
        assert worker.proc is None and worker.lifecycle.state is LifecycleState.ERROR
        assert len(progress) <= MAX_PROGRESS
        assert len(requests) <= MAX_REQUESTS
        assert find_survivors(sandbox_uid, baseline) == []

        worker.start()  # what the instance host does after a fault
        fine = worker.serve(
            {"id": "t2", "type": "hostile", "payload": "behave"},
            timeout_ms=TASK_MS,
            on_progress=progress.append,
            on_request=on_request,
        )
        assert (fine.ok, fine.result, fine.status) == (True, "fine", AgentStatus.OK)
    finally:
        worker.close()
    assert find_survivors(sandbox_uid, baseline) == []
