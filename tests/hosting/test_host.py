"""The host with fakes: it places, serves, restarts, answers requests, streams and drains."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hosting_fakes import Behaviour, FakeBackend, FakeWorker, echo, placement

from devspark.core.lifecycle import LifecycleState as S
from devspark.core.ports import RequestHandler, TaskOutcome
from devspark.core.results import AgentStatus
from devspark.hosting import Host, HostConfig, Placement
from devspark.testing.waiting import wait_until

FAST = HostConfig(instances=8, poll_s=0.05, backoff_base_s=0.05, backoff_cap_s=0.2)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


def hosting(
    backend: FakeBackend,
    behaviours: dict[str, Behaviour] | None = None,
    capabilities: tuple[str, ...] = (),
    config: HostConfig = FAST,
) -> Host:
    """A started host whose instances run ``behaviours[instance_id]`` (echo by default)."""
    chosen = behaviours or {}

    def make(p: Placement) -> list[FakeWorker]:
        return [
            FakeWorker(chosen.get(p.id, echo), capabilities=capabilities)
            for _ in range(p.concurrency)
        ]

    host = Host(backend, make, config=config)
    host.start()
    return host


@pytest.fixture
def stopped_after() -> Iterator[list[Host]]:
    hosts: list[Host] = []
    yield hosts
    for host in hosts:
        host.stop(timeout=5)


def online(host: Host, count: int) -> Callable[[], bool]:
    def check() -> bool:
        states = [i.state for i in host.instances.values()]
        return len(states) == count and all(s in (S.ONLINE, S.IDLE) for s in states)

    return check


def test_placed_instances_serve_queued_tasks_and_outcomes_are_stored(
    backend: FakeBackend, stopped_after: list[Host]
) -> None:
    backend.place(placement("a"), placement("b"), placement("z", "sum"))
    host = hosting(backend)
    stopped_after.append(host)
    host.beat()
    wait_until(online(host, 3), "three instances online", timeout=5)
    ids = [backend.queue("echo", {"n": n}) for n in range(6)]
    host.wake()
    wait_until(lambda: all(backend.status(t) == "succeeded" for t in ids), "six echoes", 5)
    assert [backend.tasks[t].result for t in ids] == [{"n": n} for n in range(6)]
    assert {backend.tasks[t].instance for t in ids} == {"a", "b"}
    host.beat()
    reports = {r.id: r for beat in backend.reports for r in beat}
    assert reports["a"].tasks_done + reports["b"].tasks_done == 6
    assert reports["z"].tasks_done == 0
    host.beat()
    assert backend.reports[-1] == []  # nothing changed: nothing to write


def test_an_instance_released_to_another_worker_is_closed_and_not_reported_stopped(
    backend: FakeBackend, stopped_after: list[Host]
) -> None:
    backend.place(placement("a"))
    host = hosting(backend)
    stopped_after.append(host)
    host.beat()
    wait_until(online(host, 1), "instance online", timeout=5)
    hosted = host.instances["a"]
    backend.released_ids = {"a"}
    host.beat()
    wait_until(lambda: hosted.state is S.OFFLINE, "the released instance closed", 5)
    assert host.instances == {} and backend.stopped == {}


def test_an_instance_that_crashes_goes_to_error_and_is_restarted_with_backoff(
    backend: FakeBackend, stopped_after: list[Host]
) -> None:
    def crashy(
        task: dict[str, Any], progress: Callable[[Any], None], ask: RequestHandler
    ) -> TaskOutcome:
        if task["payload"] == "crash":
            return TaskOutcome(ok=False, status=AgentStatus.CRASHED, error="exited with status 1")
        return TaskOutcome(ok=True, result=task["payload"])

    backend.place(placement("a"))
    host = hosting(backend, {"a": crashy})
    stopped_after.append(host)
    host.beat()
    wait_until(online(host, 1), "instance online", timeout=5)
    hosted = host.instances["a"]
    crash = backend.queue("echo", "crash")
    host.wake()
    wait_until(lambda: backend.status(crash) == "failed", "the crash stored", 5)
    report = hosted.report()
    assert report.state in (S.ERROR, S.DEPLOYING, S.ONLINE) and report.tasks_failed == 1
    wait_until(lambda: hosted.report().restarts == 1, "a restart after the backoff", 5)
    after = backend.queue("echo", "fine")
    host.wake()
    wait_until(lambda: backend.status(after) == "succeeded", "a task after the restart", 5)
    workers = [slot.worker for slot in hosted.slots]
    assert [w.starts for w in workers] == [2]  # type: ignore[attr-defined]


def test_an_instance_told_to_stop_drains_its_task_then_closes(
    backend: FakeBackend, stopped_after: list[Host]
) -> None:
    gate = threading.Event()

    def slow(
        task: dict[str, Any], progress: Callable[[Any], None], ask: RequestHandler
    ) -> TaskOutcome:
        gate.wait(5)
        return TaskOutcome(ok=True, result="late")

    backend.place(placement("a"), placement("b"))
    host = hosting(backend, {"a": slow})
    stopped_after.append(host)
    host.beat()
    wait_until(online(host, 2), "instances online", timeout=5)
    first = backend.queue("echo", to="a")
    host.wake()
    wait_until(lambda: backend.status(first) == "running", "the task on a running", 5)
    backend.stop = {"a"}
    host.beat()
    assert host.instances["a"].state is S.MAINTENANCE
    later = backend.queue("echo", "next")
    host.wake()
    wait_until(lambda: backend.status(later) == "succeeded", "b takes the next task", 5)
    assert backend.tasks[later].instance == "b" and "a" not in backend.stopped
    gate.set()
    wait_until(lambda: backend.status(first) == "succeeded", "the drained task finishes", 5)
    host.beat()
    wait_until(lambda: "a" in backend.stopped, "a stopped", 5)
    assert "a" not in host.instances and backend.stopped["a"] == ""


def test_a_request_to_svc_runs_a_sub_task_on_another_instance(
    backend: FakeBackend, stopped_after: list[Host]
) -> None:
    def relay(
        task: dict[str, Any], progress: Callable[[Any], None], ask: RequestHandler
    ) -> TaskOutcome:
        answer = ask(
            {
                "type": "request",
                "id": "r1",
                "to": "svc.echo",
                "payload": task["payload"],
                "timeout_ms": 3000,
            }
        )
        missing = ask(
            {"type": "request", "id": "r2", "to": "svc.nobody.handles", "timeout_ms": 100}
        )
        return TaskOutcome(ok=True, result={"answer": answer, "missing": missing})

    backend.place(placement("coordinator", "relay"), placement("echoer"))
    host = hosting(backend, {"coordinator": relay}, capabilities=("bus:request:svc.>",))
    stopped_after.append(host)
    host.beat()
    wait_until(online(host, 2), "instances online", timeout=5)
    parent = backend.queue("relay", {"x": 1})
    host.wake()
    wait_until(lambda: backend.status(parent) == "succeeded", "the relayed task", 5)
    result = backend.tasks[parent].result
    assert result["answer"] == {"ok": True, "payload": {"x": 1}}
    assert result["missing"]["ok"] is False and "no instance handles" in result["missing"]["error"]
    (child,) = [s for s in backend.tasks.values() if s.parent == parent]
    assert child.instance == "echoer" and child.status == "succeeded"


def test_progress_is_stored_at_most_every_interval_and_the_last_one_always(
    backend: FakeBackend, stopped_after: list[Host]
) -> None:
    def chatty(
        task: dict[str, Any], progress: Callable[[Any], None], ask: RequestHandler
    ) -> TaskOutcome:
        for step in range(1, 11):
            progress({"step": step})
        return TaskOutcome(ok=True, result="done")

    backend.place(placement("a"))
    host = hosting(backend, {"a": chatty}, config=HostConfig(poll_s=0.05, progress_every_s=60))
    stopped_after.append(host)
    host.beat()
    wait_until(online(host, 1), "instance online", timeout=5)
    task_id = backend.queue("echo")
    host.wake()
    wait_until(lambda: backend.status(task_id) == "succeeded", "the chatty task", 5)
    assert backend.tasks[task_id].progress == [{"step": 1}, {"step": 10}]


def test_stopping_the_host_lets_tasks_end_closes_instances_and_gives_them_back(
    backend: FakeBackend,
) -> None:
    backend.place(placement("a", concurrency=2))
    host = hosting(backend)
    host.beat()
    wait_until(online(host, 1), "instance online", timeout=5)
    hosted = host.instances["a"]
    host.stop(timeout=5)
    assert backend.released and hosted.state is S.OFFLINE
    assert all(slot.worker.closed for slot in hosted.slots)  # type: ignore[attr-defined]


def test_an_instance_whose_agent_cannot_be_built_is_in_error_and_tried_again(
    backend: FakeBackend, stopped_after: list[Host]
) -> None:
    tries: list[str] = []

    def make(p: Placement) -> list[FakeWorker]:
        tries.append(p.id)
        if len(tries) == 1:
            raise LookupError("Unknown built-in agent 'builtin:gone'")
        return [FakeWorker()]

    backend.place(placement("a"))
    host = Host(backend, make, config=FAST)
    host.start()
    stopped_after.append(host)
    host.beat()
    wait_until(lambda: len(tries) == 2, "a second build after the backoff", 5)
    wait_until(online(host, 1), "instance online", timeout=5)
    report = host.instances["a"].report()
    assert (report.restarts, report.error) == (1, "")
    assert backend.stopped == {}


def test_sys_memory_is_shared_by_the_instances_of_a_host_within_their_grants(
    backend: FakeBackend, stopped_after: list[Host]
) -> None:
    def remember(
        task: dict[str, Any], progress: Callable[[Any], None], ask: RequestHandler
    ) -> TaskOutcome:
        line = {"type": "request", "id": "r", "to": "sys.memory", "timeout_ms": 500}
        op = {"space": "team", "key": "k", **task["payload"]}
        return TaskOutcome(ok=True, result=ask({**line, "payload": op}))

    grants = ("bus:request:sys.memory", "memory:read:team", "memory:write:team")
    backend.place(placement("a"), placement("b"))
    host = hosting(backend, {"a": remember, "b": remember}, capabilities=grants)
    stopped_after.append(host)
    host.beat()
    wait_until(online(host, 2), "instances online", timeout=5)
    put = backend.queue("echo", {"op": "put", "value": 42}, to="a")
    host.wake()
    wait_until(lambda: backend.status(put) == "succeeded", "the put", 5)
    get = backend.queue("echo", {"op": "get"}, to="b")
    host.wake()
    wait_until(lambda: backend.status(get) == "succeeded", "the get", 5)
    assert backend.tasks[put].result == {"ok": True, "payload": {"version": 1}}
    assert backend.tasks[get].result == {"ok": True, "payload": {"value": 42, "version": 1}}


def test_a_big_host_still_takes_tasks_sent_to_one_of_its_instances(
    backend: FakeBackend, stopped_after: list[Host]
) -> None:
    backend.place(*(placement(f"i{n}") for n in range(70)))
    host = hosting(backend, config=HostConfig(instances=70, poll_s=0.05))
    stopped_after.append(host)
    host.beat()
    wait_until(online(host, 70), "70 instances online", timeout=10)
    addressed = backend.queue("echo", "for 65", to="i65")
    anyone = backend.queue("echo", "for anyone")
    host.wake()
    wait_until(lambda: backend.status(addressed) == "succeeded", "the addressed task", 5)
    wait_until(lambda: backend.status(anyone) == "succeeded", "the other task", 5)
    assert backend.tasks[addressed].instance == "i65"


def test_a_task_no_longer_held_when_its_agent_is_free_is_not_run(
    backend: FakeBackend, stopped_after: list[Host]
) -> None:
    ran: list[Any] = []

    def record(
        task: dict[str, Any], progress: Callable[[Any], None], ask: RequestHandler
    ) -> TaskOutcome:
        ran.append(task["payload"])
        return TaskOutcome(ok=True, result=task["payload"])

    original = backend.started

    def expire_first(task_id: str, instance_id: str) -> bool:
        if backend.tasks[task_id].task.payload == "late":
            backend.tasks[task_id].status = "timed_out"  # expired between claim and start
        return original(task_id, instance_id)

    backend.started = expire_first  # type: ignore[method-assign]
    backend.place(placement("a"))
    host = hosting(backend, {"a": record})
    stopped_after.append(host)
    host.beat()
    wait_until(online(host, 1), "instance online", timeout=5)
    late = backend.queue("echo", "late")
    host.wake()
    wait_until(
        lambda: host.instances["a"].free == 1 and backend.status(late) == "timed_out", "x", 5
    )
    fine = backend.queue("echo", "fine")
    host.wake()
    wait_until(lambda: backend.status(fine) == "succeeded", "the next task", 5)
    assert ran == ["fine"] and host.instances["a"].report().tasks_done == 1
