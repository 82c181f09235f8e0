"""The hosting runtime's parts with fakes: backoff, instance lifecycle, dispatching, requests."""

from __future__ import annotations

from typing import Any

import pytest
from hosting_fakes import Clock, FakeWorker, placement

from devspark.core.errors import InvalidArgumentError
from devspark.core.lifecycle import LifecycleState as S
from devspark.core.ports import TaskOutcome
from devspark.core.results import AgentStatus
from devspark.hosting import (
    MAX_REQUESTS_PER_TASK,
    Backoff,
    Dispatcher,
    HostedTask,
    Instance,
    SubResult,
    TaskRequests,
)

CRASH = TaskOutcome(ok=False, status=AgentStatus.CRASHED, error="agent exited with status 1")
DONE = TaskOutcome(ok=True, result=1)


def instance(
    clock: Clock, instance_id: str = "i1", *handles: str, concurrency: int = 1
) -> Instance:
    workers = [FakeWorker() for _ in range(concurrency)]
    return Instance(placement(instance_id, *handles, concurrency=concurrency), workers, clock=clock)


def test_backoff_doubles_from_half_a_second_to_thirty_and_forgets_after_a_stable_run() -> None:
    backoff = Backoff(stable_s=60.0)
    delays = [backoff.failed() for _ in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    backoff.healthy(100.0)
    backoff.healthy(159.0)
    assert backoff.failures == 8
    backoff.healthy(160.0)
    assert backoff.failures == 0
    assert backoff.failed() == 0.5
    with pytest.raises(InvalidArgumentError, match="base_s=0"):
        Backoff(base_s=0)


def test_an_instance_goes_registered_deploying_online_busy_idle() -> None:
    clock = Clock()
    hosted = instance(clock)
    assert hosted.state is S.REGISTERED and hosted.free == 0
    assert hosted.deploy()
    assert hosted.state is S.ONLINE and hosted.free == 1
    slot = hosted.take()
    assert slot is not None and hosted.state is S.BUSY and hosted.take() is None
    assert hosted.report().load == 1.0
    hosted.release(slot, DONE)
    report = hosted.report()
    assert (report.state, report.tasks_done, report.load) == (S.IDLE, 1, 0.0)
    steps = [(t.source.value, t.target.value) for t in hosted.lifecycle.history]
    assert steps == [
        ("registered", "deploying"),
        ("deploying", "online"),
        ("online", "busy"),
        ("busy", "idle"),
    ]


def test_a_fault_puts_the_instance_in_error_and_it_restarts_after_its_backoff() -> None:
    clock = Clock()
    hosted = instance(clock)
    hosted.deploy()
    slot = hosted.take()
    assert slot is not None
    hosted.release(slot, CRASH)
    report = hosted.report()
    assert report.state is S.ERROR and "crashed" in report.error and report.tasks_failed == 1
    assert hosted.free == 0
    assert not hosted.restart_due(clock.now + 0.49)
    assert hosted.restart_due(clock.now + 0.5)
    clock.advance(0.5)
    assert hosted.deploy()
    report = hosted.report()
    assert (report.state, report.restarts, report.error) == (S.ONLINE, 1, "")
    slot = hosted.take()
    assert slot is not None
    hosted.release(slot, CRASH)  # again: the delay doubles
    assert not hosted.restart_due(clock.now + 0.99) and hosted.restart_due(clock.now + 1.0)


def test_a_task_error_is_a_failed_task_not_a_fault() -> None:
    hosted = instance(Clock())
    hosted.deploy()
    slot = hosted.take()
    assert slot is not None
    hosted.release(slot, TaskOutcome(ok=False, error="ValueError: no"))
    report = hosted.report()
    assert (report.state, report.tasks_failed) == (S.IDLE, 1)


def test_a_start_that_fails_is_an_error_with_the_reason_and_a_retry() -> None:
    clock = Clock()
    hosted = Instance(placement("i1"), [FakeWorker(fail_starts=1)], clock=clock)
    assert not hosted.deploy()
    report = hosted.report()
    assert report.state is S.ERROR and "boom" in report.error
    clock.advance(0.5)
    assert hosted.restart_due(clock.now) and hosted.deploy()
    assert hosted.report().restarts == 1


def test_a_draining_instance_takes_nothing_and_closes_once_its_task_is_done() -> None:
    hosted = instance(Clock(), concurrency=2)
    hosted.deploy()
    slot = hosted.take()
    assert slot is not None
    hosted.drain()
    assert hosted.state is S.MAINTENANCE and hosted.free == 0 and not hosted.drained()
    hosted.release(slot, DONE)
    assert hosted.drained()
    hosted.close()
    assert hosted.state is S.OFFLINE and all(s.worker.closed for s in hosted.slots)  # type: ignore[attr-defined]


def task(task_id: str, task_type: str = "echo", **fields: Any) -> HostedTask:
    return HostedTask(task_id, task_type, None, **fields)


def served(instances: list[Instance]) -> Dispatcher:
    dispatcher = Dispatcher()
    for hosted in instances:
        hosted.deploy()
        dispatcher.add(hosted)
    return dispatcher


def test_dispatch_takes_priority_first_then_age() -> None:
    clock = Clock()
    dispatcher = served([instance(clock, "a")])
    dispatcher.offer(
        [task("old-low", priority=2, age=1.0), task("new-high", priority=9, age=5.0)], 0.0
    )
    dispatcher.offer([task("old-high", priority=9, age=2.0)], 0.0)
    first = dispatcher.assign(0.0, budget=10)
    assert [a.task.id for a in first] == ["old-high"]
    assert dispatcher.waiting == 2


def test_a_busy_type_does_not_hold_back_another_type() -> None:
    clock = Clock()
    dispatcher = served([instance(clock, "a", "echo"), instance(clock, "b", "sum")])
    dispatcher.offer(
        [task("e1", priority=9), task("e2", priority=9), task("s1", "sum", priority=1)], 0
    )
    placed = {a.task.id: a.instance.id for a in dispatcher.assign(0.0, 10) if a.instance}
    assert placed == {"e1": "a", "s1": "b"}
    assert dispatcher.free_capacity(10) == {}


def test_work_spreads_to_the_instance_idle_longest() -> None:
    clock = Clock()
    hosted = [instance(clock, name) for name in ("a", "b", "c")]
    dispatcher = served(hosted)
    order = []
    for n in range(6):
        dispatcher.offer([task(f"t{n}")], 0.0)
        (assignment,) = dispatcher.assign(0.0, 10)
        assert assignment.instance is not None and assignment.slot is not None
        order.append(assignment.instance.id)
        assignment.instance.release(assignment.slot, DONE)
        dispatcher.refresh(assignment.instance)
    assert order == ["a", "b", "c", "a", "b", "c"]


def test_a_task_for_one_instance_waits_for_it_and_is_refused_when_it_is_not_here() -> None:
    clock = Clock()
    a, b = instance(clock, "a"), instance(clock, "b")
    dispatcher = served([a, b])
    busy = a.take()
    assert busy is not None
    dispatcher.refresh(a)
    dispatcher.offer([task("for-a", to="a"), task("for-z", to="z")], 0.0)
    placed = dispatcher.assign(0.0, 10)
    assert [(p.task.id, p.refusal) for p in placed] == [("for-z", "instance z is not serving")]
    a.release(busy, DONE)
    dispatcher.refresh(a)
    (later,) = dispatcher.assign(0.0, 10)
    assert later.task.id == "for-a" and later.instance is a


def test_free_capacity_is_capped_by_the_budget_and_unplaced_tasks_expire() -> None:
    clock = Clock()
    dispatcher = served([instance(clock, "a", concurrency=3), instance(clock, "b", concurrency=2)])
    assert dispatcher.free_capacity(10) == {"echo": 5}
    assert dispatcher.free_capacity(2) == {"echo": 2}
    assert dispatcher.free_capacity(0) == {}
    dispatcher.offer([task("t", "nobody", timeout_ms=1000)], now=0.0)
    assert dispatcher.assign(0.5, 10) == [] and dispatcher.waiting == 1
    (expired,) = dispatcher.assign(1.0, 10)
    assert expired.refusal == "no instance was free before its deadline"


def test_requests_need_a_matching_capability_and_are_limited_per_task() -> None:
    asked: list[tuple[str, Any, str | None, int]] = []

    def submit(task_type: str, payload: Any, to: str | None, timeout_ms: int) -> SubResult:
        asked.append((task_type, payload, to, timeout_ms))
        return SubResult("succeeded", {"echo": payload})

    requests = TaskRequests(
        ["bus:request:svc.echo", "bus:request:sys.memory"],
        submit,
        tools=lambda line: {"ok": True, "payload": line["payload"]},
    )
    ask = {"type": "request", "id": "r1", "timeout_ms": 500}
    assert requests({**ask, "to": "svc.echo", "payload": 1}) == {"ok": True, "payload": {"echo": 1}}
    assert requests({"type": "submit", "id": "s", "task_type": "echo", "payload": 2, "to": "i9"})[
        "ok"
    ]
    assert asked == [("echo", 1, None, 500), ("echo", 2, "i9", 1000)]
    assert requests({**ask, "to": "svc.sum"}) == {
        "ok": False,
        "error": "the manifest grants no bus:request capability matching 'svc.sum' "
        "(add e.g. bus:request:svc.sum to capabilities)",
    }
    assert requests({**ask, "to": "sys.memory", "payload": {"op": "get"}})["ok"]
    assert not requests({**ask, "to": "sys.teams"})["ok"]
    assert "unknown target" in requests({**ask, "to": "elsewhere"})["error"]
    assert requests.refused == 3
    for _ in range(MAX_REQUESTS_PER_TASK):
        last = requests({**ask, "to": "svc.echo"})
    assert last == {"ok": False, "error": "over the request limit (32 per task)"}


def test_a_failed_or_refused_sub_task_is_an_error_answer() -> None:
    def submit(task_type: str, payload: Any, to: str | None, timeout_ms: int) -> SubResult | str:
        if task_type == "slow":
            return "no answer from svc.slow within 1000 ms"
        if task_type == "missing":
            raise InvalidArgumentError("type='missing': no instance handles it")
        return SubResult("failed", error="ValueError: bad")

    requests = TaskRequests(["bus:request:svc.>"], submit)
    ask = {"type": "request", "id": "r1"}
    assert requests({**ask, "to": "svc.slow"})["error"] == "no answer from svc.slow within 1000 ms"
    assert "no instance handles" in requests({**ask, "to": "svc.missing"})["error"]
    assert requests({**ask, "to": "svc.bad"})["error"] == "sub-task failed: ValueError: bad"
    assert (
        "no bus:request capability matching 'sys.memory'"
        in (requests({**ask, "to": "sys.memory"})["error"])
    )
