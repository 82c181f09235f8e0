"""ProcessWorker at the ``process`` and ``sandbox`` levels: lifecycle, faults, time bank."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devspark.arena.agents import resolve_agent
from devspark.core.lifecycle import LifecycleState
from devspark.core.ports import AgentPackage
from devspark.core.results import AgentStatus
from devspark.sandbox import IsolationLevel, ProcessWorker, open_worker

pytestmark = pytest.mark.integration

S = LifecycleState
BOARD = {"board": [0] * 9, "mark": 1}
LEGAL = list(range(9))
LEVELS = [IsolationLevel.PROCESS, IsolationLevel.SANDBOX]

FLAKY = """
import os

def act(observation, context):
    if observation.get("crash"):
        os._exit(3)
    if observation.get("raise"):
        raise ValueError("bad move on purpose")
    context.log(f"pid {os.getpid()}")
    return context.legal_actions[-1]
"""


@pytest.fixture
def workers() -> Iterator[list[ProcessWorker]]:
    started: list[ProcessWorker] = []
    yield started
    for worker in started:
        worker.close()


def open_process_worker(
    workers: list[ProcessWorker], package: AgentPackage, level: IsolationLevel
) -> ProcessWorker:
    worker = open_worker(package, level, seed=1)
    assert isinstance(worker, ProcessWorker)
    workers.append(worker)
    return worker


def reset(worker: ProcessWorker, episode: int = 0) -> None:
    worker.reset(episode=episode, scenario="tictactoe-v1", role="player_0", seed=5, config={})


def targets(worker: ProcessWorker) -> list[LifecycleState]:
    return [t.target for t in worker.lifecycle.history]


@pytest.mark.parametrize("level", LEVELS)
def test_full_lifecycle(workers: list[ProcessWorker], level: IsolationLevel) -> None:
    worker = open_process_worker(workers, resolve_agent("builtin:random"), level)
    assert worker.lifecycle.state is S.REGISTERED
    assert worker.proc is None

    worker.start()
    assert targets(worker) == [S.DEPLOYING, S.ONLINE]
    assert worker.proc is not None and worker.proc.alive()
    cgroup = worker.proc.cgroup
    assert cgroup is not None  # root with cgroup v1: every agent gets a group
    assert worker.proc.pid in cgroup.pids()

    reset(worker)
    assert worker.lifecycle.state is S.BUSY
    decision = worker.act(0, BOARD, LEGAL)
    assert decision.status is AgentStatus.OK, decision.detail
    assert decision.action in LEGAL
    assert decision.elapsed_ms > 0

    usage, log = worker.finish(reward=1.0, status=AgentStatus.OK)
    assert worker.lifecycle.state is S.IDLE
    assert usage.wall_ms > 0
    assert usage.cpu_s >= 0
    assert usage.peak_mb > 0
    assert log.logs == []

    worker.close()
    assert worker.lifecycle.state is S.OFFLINE
    assert worker.proc is None
    assert all(not path.exists() for path in cgroup.dirs.values())
    assert targets(worker) == [S.DEPLOYING, S.ONLINE, S.BUSY, S.IDLE, S.OFFLINE]


@pytest.mark.parametrize("level", LEVELS)
def test_warm_across_episodes(workers: list[ProcessWorker], level: IsolationLevel) -> None:
    worker = open_process_worker(workers, resolve_agent("builtin:minimax"), level)
    pids = []
    for episode in range(3):
        reset(worker, episode)  # the first reset starts the process
        assert worker.proc is not None
        pids.append(worker.proc.pid)
        decision = worker.act(0, {"board": [1, 1, 0, 2, 2, 0, 0, 0, 0], "mark": 1}, [2, 5, 6, 7, 8])
        assert decision.status is AgentStatus.OK, decision.detail
        assert decision.action == 2  # minimax completes its row
        worker.finish(reward=1.0, status=AgentStatus.OK)
    assert len(set(pids)) == 1
    assert targets(worker).count(S.DEPLOYING) == 1


@pytest.mark.parametrize("level", LEVELS)
def test_time_bank(
    workers: list[ProcessWorker], make_agent: Callable[..., Path], level: IsolationLevel
) -> None:
    folder = make_agent(
        """
        import time

        def act(observation, context):
            time.sleep(0.15)
            return context.legal_actions[0]
        """,
        name="sleepy",
        limits={"move_ms": 100, "overage_ms": 120},
    )
    worker = open_process_worker(workers, resolve_agent(str(folder)), level)
    reset(worker)
    decisions = []
    for step in range(5):
        decision = worker.act(step, BOARD, LEGAL)
        decisions.append(decision)
        if decision.status is not AgentStatus.OK:
            break
    statuses = [d.status for d in decisions]
    assert statuses[0] is AgentStatus.OK  # 150 ms fits 100 ms + a 120 ms bank
    assert statuses[-1] is AgentStatus.TIMEOUT, statuses
    assert 2 <= len(statuses) <= 3, statuses  # the bank (120 ms) pays for at most 2 overruns
    assert "deadline" in decisions[-1].detail
    assert worker.lifecycle.state is S.ERROR
    assert worker.act(len(decisions), BOARD, LEGAL).status is AgentStatus.CRASHED

    worker.finish(reward=-1.0, status=AgentStatus.TIMEOUT)
    reset(worker, 1)  # a new episode refills the bank on a fresh process
    assert worker.act(0, BOARD, LEGAL).status is AgentStatus.OK


@pytest.mark.parametrize("level", LEVELS)
def test_crash_then_restart(
    workers: list[ProcessWorker], make_agent: Callable[..., Path], level: IsolationLevel
) -> None:
    worker = open_process_worker(workers, resolve_agent(str(make_agent(FLAKY))), level)
    reset(worker)
    assert worker.proc is not None
    first_pid = worker.proc.pid
    assert worker.act(0, BOARD, LEGAL).status is AgentStatus.OK

    crashed = worker.act(1, {"crash": True}, LEGAL)
    assert crashed.status is AgentStatus.CRASHED
    assert "agent exited with status 3" in crashed.detail
    assert worker.lifecycle.state is S.ERROR
    assert worker.proc is None  # the faulted process is gone, reaped and its cgroup removed
    usage, _ = worker.finish(reward=-1.0, status=AgentStatus.CRASHED)
    assert usage.peak_mb > 0  # read before the faulted process was closed

    reset(worker, 1)
    assert worker.proc is not None
    assert worker.proc.pid != first_pid
    assert worker.lifecycle.state is S.BUSY
    decision = worker.act(0, BOARD, LEGAL)
    assert decision.status is AgentStatus.OK, decision.detail
    assert decision.action == 8
    assert targets(worker)[-4:] == [S.ERROR, S.DEPLOYING, S.ONLINE, S.BUSY]


@pytest.mark.parametrize("level", LEVELS)
def test_exception_in_act_is_an_error_and_the_process_stays(
    workers: list[ProcessWorker], make_agent: Callable[..., Path], level: IsolationLevel
) -> None:
    worker = open_process_worker(workers, resolve_agent(str(make_agent(FLAKY))), level)
    reset(worker)
    assert worker.proc is not None
    pid = worker.proc.pid
    failed = worker.act(0, {"raise": True}, LEGAL)
    assert failed.status is AgentStatus.ERROR
    assert "ValueError: bad move on purpose" in failed.detail
    assert failed.action is None
    assert worker.proc is not None and worker.proc.pid == pid
    assert worker.act(1, BOARD, LEGAL).status is AgentStatus.OK
    _, log = worker.finish(reward=0.0, status=AgentStatus.ERROR)
    assert len(log.logs) == 1
    assert log.logs[0].startswith("pid ")


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (b"this is not json", "malformed JSON line"),
        (b"[1, 2, 3]", "a line must be a JSON object"),
        (b'{"type": "action", "step": 99, "action": 0}', "action for step 99, expected step 0"),
        (b'{"type": "teleport"}', "unexpected message type 'teleport'"),
        (b'{"type": "error", "step": 42, "message": "x"}', "error for step 42, expected 0"),
    ],
)
def test_bad_protocol_lines_are_protocol_errors(
    workers: list[ProcessWorker], make_agent: Callable[..., Path], line: bytes, detail: str
) -> None:
    folder = make_agent(
        f"""
        import os
        import sys

        def act(observation, context):
            os.write(sys.modules["__main__"].PROTOCOL_OUT_FD, {line!r} + b"\\n")
            return 0
        """,
        name="chatty",
    )
    worker = open_process_worker(workers, resolve_agent(str(folder)), IsolationLevel.SANDBOX)
    reset(worker)
    decision = worker.act(0, BOARD, LEGAL)
    assert decision.status is AgentStatus.PROTOCOL_ERROR
    assert detail in decision.detail
    assert worker.lifecycle.state is S.ERROR


def test_agent_that_fails_to_start(
    workers: list[ProcessWorker], make_agent: Callable[..., Path]
) -> None:
    folder = make_agent("def act(observation, context)\n    return 0\n", name="broken")
    worker = open_process_worker(workers, resolve_agent(str(folder)), IsolationLevel.SANDBOX)
    reset(worker)  # a start fault is kept, not raised
    assert worker.lifecycle.state is S.ERROR
    decision = worker.act(0, BOARD, LEGAL)
    assert decision.status is AgentStatus.CRASHED
    assert "SyntaxError" in decision.detail


def test_nothing_survives_close(
    workers: list[ProcessWorker], make_agent: Callable[..., Path]
) -> None:
    folder = make_agent(
        """
        import subprocess

        def act(observation, context):
            child = subprocess.Popen(["sleep", "60"], start_new_session=True)
            context.log(child.pid)
            return context.legal_actions[0]
        """,
        name="forker",
    )
    worker = open_process_worker(workers, resolve_agent(str(folder)), IsolationLevel.PROCESS)
    reset(worker)
    assert worker.act(0, BOARD, LEGAL).status is AgentStatus.OK
    _, log = worker.finish(reward=0.0, status=AgentStatus.OK)
    child = int(log.logs[0])
    assert worker.proc is not None and worker.proc.cgroup is not None
    assert child in worker.proc.cgroup.pids()
    worker.close()
    assert not Path(f"/proc/{child}").exists()


def test_javascript_agent_in_the_sandbox(workers: list[ProcessWorker]) -> None:
    worker = open_process_worker(
        workers, resolve_agent("builtin:random-js"), IsolationLevel.SANDBOX
    )
    reset(worker)
    for step in range(3):
        decision = worker.act(step, BOARD, [1, 3, 5])
        assert decision.status is AgentStatus.OK, decision.detail
        assert decision.action in [1, 3, 5]
    usage, _ = worker.finish(reward=0.0, status=AgentStatus.OK)
    assert usage.peak_mb > 0


def test_sandboxed_agent_runs_as_the_sandbox_user(
    workers: list[ProcessWorker], make_agent: Callable[..., Path]
) -> None:
    folder = make_agent(
        """
        import os

        def act(observation, context):
            context.log(f"{os.getuid()} {os.getcwd()} {os.environ.get('HOME')}")
            return context.legal_actions[0]
        """,
        name="whoami",
    )
    worker = open_process_worker(workers, resolve_agent(str(folder)), IsolationLevel.SANDBOX)
    reset(worker)
    assert worker.act(0, BOARD, LEGAL).status is AgentStatus.OK
    _, log = worker.finish(reward=0.0, status=AgentStatus.OK)
    uid, cwd, home = log.logs[0].split()
    assert int(uid) != 0
    assert (cwd, home) == ("/agent", "/state")


def test_sandbox_start_is_fast(workers: list[ProcessWorker]) -> None:
    worker = open_process_worker(workers, resolve_agent("builtin:random"), IsolationLevel.SANDBOX)
    started = time.monotonic()
    reset(worker)
    assert worker.lifecycle.state is S.BUSY
    assert time.monotonic() - started < 2.0
