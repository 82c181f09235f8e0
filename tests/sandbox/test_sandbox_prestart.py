"""Pre-started launch slots: fresh groups, requested limits, no leftovers, concurrency."""

from __future__ import annotations

import multiprocessing
import os
import re
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devspark.arena.agents import resolve_agent
from devspark.core.lifecycle import LifecycleState
from devspark.sandbox import IsolationLevel, ProcessWorker, prestart
from devspark.sandbox.cgroups import Cgroup, CgroupLimits
from devspark.sandbox.isolation import cgroup_layout

pytestmark = pytest.mark.integration

SLEEP = ["/usr/bin/sleep", "30"]
ENV = {"PATH": "/usr/bin:/bin"}
SMALL = CgroupLimits(64 << 20, 0.5, 16)
LARGE = CgroupLimits(160 << 20, 1.0, 40)


@pytest.fixture
def pool() -> Iterator[prestart.PrestartPool]:
    layout = cgroup_layout()
    assert layout.available() is None, layout.available()  # root with cgroup v1 here
    made = prestart.PrestartPool(layout, 2, SMALL)
    assert made.wait_ready(2), "the pool did not fill"
    yield made
    made.close()


def job(argv: list[str], fds: dict[int, int] | None = None) -> prestart.LaunchJob:
    return prestart.LaunchJob(argv, dict(ENV), None, [], fds or {})


def claim(
    pool: prestart.PrestartPool, limits: CgroupLimits, argv: list[str]
) -> tuple[subprocess.Popen[bytes], Cgroup]:
    claimed = pool.claim(limits, job(argv))
    assert claimed is not None, "no slot was ready"
    return claimed


def stop(popen: subprocess.Popen[bytes], group: Cgroup, pool: prestart.PrestartPool) -> None:
    popen.kill()
    popen.communicate()
    prestart.empty(group)
    pool.retire(group)


def limits_in_files(group: Cgroup) -> CgroupLimits:
    memory = int((group.dirs["memory"] / "memory.limit_in_bytes").read_text())
    quota = int((group.dirs["cpu"] / "cpu.cfs_quota_us").read_text())
    period = int((group.dirs["cpu"] / "cpu.cfs_period_us").read_text())
    pids = int((group.dirs["pids"] / "pids.max").read_text())
    return CgroupLimits(memory, quota / period, pids)


def our_groups(pid: int) -> list[Path]:
    return [
        path
        for base in cgroup_layout().bases.values()
        for path in base.glob(f"devspark-{pid}-*")
        if path.is_dir()
    ]


def test_pool_hands_out_fresh_groups_with_the_requested_limits(
    pool: prestart.PrestartPool,
) -> None:
    popen, group = claim(pool, LARGE, SLEEP)
    try:
        assert group.pids() == [popen.pid]  # the command runs in its group, alone
        assert Path(f"/proc/{popen.pid}/exe").resolve() == Path(SLEEP[0])  # exec'd in place
        assert limits_in_files(group) == LARGE
        usage = group.usage()
        assert usage.memory_hits == usage.pids_hits == usage.oom_kills == 0
        assert usage.cpu_s < 0.05  # the stub's start is not billed to the agent
        assert set(os.listdir(f"/proc/{popen.pid}/fd")) == {"0", "1", "2"}  # no control socket
        status = Path(f"/proc/{popen.pid}/status").read_text()
        ignored = int(re.search(r"^SigIgn:\t([0-9a-f]+)$", status, re.M)[1], 16)  # type: ignore[index]
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):  # back to default, as Popen does
            assert not ignored & (1 << (signum - 1)), f"{signum!r} is still ignored"
        niceness = int(Path(f"/proc/{popen.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
        assert niceness == os.getpriority(os.PRIO_PROCESS, 0)  # the stub's low priority undone
    finally:
        stop(popen, group, pool)


def test_limits_of_a_previous_tenant_are_not_inherited(pool: prestart.PrestartPool) -> None:
    hog = ["/usr/bin/python3", "-c", "b = bytearray(40 << 20); b[::4096] = b'x' * len(b[::4096])"]
    popen, first = claim(pool, LARGE, hog)
    assert popen.wait(timeout=30) == 0
    assert first.peak_bytes() > 40 << 20
    stop(popen, first, pool)
    assert pool.wait_ready(2)
    popen, second = claim(pool, SMALL, SLEEP)
    try:
        assert second.dirs["memory"] != first.dirs["memory"]  # never reused
        assert not first.dirs["memory"].exists()  # the previous tenant's group is gone
        assert limits_in_files(second) == SMALL
        assert second.peak_bytes() < 16 << 20  # no peak carried over from the hog
    finally:
        stop(popen, second, pool)


def test_a_failed_exec_raises_like_popen_and_frees_the_slot(
    pool: prestart.PrestartPool,
) -> None:
    with pytest.raises(FileNotFoundError):
        pool.claim(SMALL, job(["/nonexistent/agent"]))
    assert pool.wait_ready(2)  # refilled, and the failed slot's group removed
    assert (pool.created, pool.removed) == (3, 1)
    assert len({path.name for path in our_groups(os.getpid())}) == 2  # the two ready slots


def test_passed_fds_land_at_the_requested_numbers(pool: prestart.PrestartPool) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"seccomp program stand-in")
    os.close(write_end)
    claimed = pool.claim(
        SMALL, job(["/usr/bin/python3", "-c", "import os; print(os.read(3, 100))"], {read_end: 3})
    )
    os.close(read_end)
    assert claimed is not None
    popen, group = claimed
    out, _ = popen.communicate(timeout=30)
    assert out.strip() == b"b'seccomp program stand-in'"
    stop(popen, group, pool)


def test_no_cgroup_directories_are_left_behind_after_shutdown(
    pool: prestart.PrestartPool,
) -> None:
    popen, running = claim(pool, SMALL, SLEEP)  # still running at shutdown
    assert pool.wait_ready(2)
    names = {path.name for path in our_groups(os.getpid())}
    assert running.dirs["memory"].name in names
    pool.retire(running)  # the launcher empties it first; here the kill is left to close()
    pool.close()
    popen.wait(timeout=5)
    left = {path.name for path in our_groups(os.getpid())} & names
    assert left == set()
    assert pool.created == pool.removed >= 3


def test_process_exit_removes_every_stub_and_group() -> None:
    code = (
        "import os\n"
        "from devspark.sandbox import prestart\n"
        "pool = prestart.enable(3)\n"
        "assert pool is not None and pool.wait_ready(3)\n"
        "stubs = [str(slot.popen.pid) for slot in pool._ready]\n"
        "print(os.getpid(), *stubs, flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60)
    child, *stubs = (int(pid) for pid in done.stdout.split())
    assert len(stubs) == 3
    assert [pid for pid in stubs if Path(f"/proc/{pid}").exists()] == []
    assert our_groups(child) == []


def test_concurrent_launches_get_distinct_groups(pool: prestart.PrestartPool) -> None:
    pool.resize(4)
    assert pool.wait_ready(4)
    barrier = threading.Barrier(6)
    results: list[tuple[subprocess.Popen[bytes], Cgroup] | None] = []
    lock = threading.Lock()

    def launch() -> None:
        barrier.wait()
        claimed = pool.claim(SMALL, job(SLEEP))
        with lock:
            results.append(claimed)

    threads = [threading.Thread(target=launch) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    served = [item for item in results if item is not None]
    assert len(served) >= 4  # four were ready; the rest may be refilled or fall back
    assert len({group.dirs["memory"] for _, group in served}) == len(served)
    for popen, group in served:
        assert group.pids() == [popen.pid]
    for popen, group in served:
        stop(popen, group, pool)


def _child_pool_groups(_: int) -> tuple[int, list[str]]:
    pool = prestart.current()  # DEVSPARK_PRESTART=1: the child makes its own
    assert pool is not None and pool.wait_ready(1)
    return os.getpid(), [path.name for path in our_groups(os.getpid())]


def test_a_forked_child_starts_its_own_pool_and_cleans_it(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = prestart.enable(1)
    assert parent is not None and parent.wait_ready(1)
    try:
        monkeypatch.setenv("DEVSPARK_PRESTART", "1")
        children = multiprocessing.get_context("fork").Pool(1)
        child, names = children.map(_child_pool_groups, [0])[0]
        children.close()  # a normal exit runs multiprocessing's finalizers
        children.join()
        assert parent.ready() == 1  # the child did not touch the parent's slot
    finally:
        prestart.disable()
    assert names and all(name.startswith(f"devspark-{child}-") for name in names)
    assert our_groups(child) == []


def test_sandbox_worker_starts_in_a_slot_and_closes_clean() -> None:
    pool = prestart.enable(1)
    assert pool is not None and pool.wait_ready(1)
    try:
        worker = ProcessWorker(resolve_agent("builtin:random"), level=IsolationLevel.SANDBOX)
        worker.start()
        assert worker.lifecycle.state is LifecycleState.ONLINE, worker.lifecycle.history
        assert pool.claimed == 1 and pool.missed == 0
        assert worker.proc is not None and worker.proc.cgroup is not None
        group, pid = worker.proc.cgroup, worker.proc.pid
        assert pid in group.pids()
        assert limits_in_files(group).memory_bytes == worker.memory_mb << 20
        worker.close()
        assert not Path(f"/proc/{pid}").exists()  # nothing outlives close()
        assert all(not path.exists() for path in group.dirs.values())
        assert pool.wait_ready(1)  # and the slot it used is replaced
    finally:
        prestart.disable()


def test_unusable_cgroups_leave_the_direct_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    layout = cgroup_layout()
    monkeypatch.setattr(type(layout), "available", lambda _self: "no cgroups in this test")
    prestart.disable()
    assert prestart.enable(2) is None
    assert prestart.current() is None


def test_an_empty_pool_falls_back_to_the_direct_launch() -> None:
    pool = prestart.enable(0)
    assert pool is not None
    try:
        worker = ProcessWorker(resolve_agent("builtin:random"), level=IsolationLevel.SANDBOX)
        worker.start()
        assert worker.lifecycle.state is LifecycleState.ONLINE, worker.lifecycle.history
        assert (pool.claimed, pool.missed) == (0, 1)
        assert worker.proc is not None and worker.proc.cgroup is not None  # made directly
        assert worker.proc.pid in worker.proc.cgroup.pids()
        worker.close()
    finally:
        prestart.disable()


def test_stubs_that_cannot_start_stop_the_refill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prestart, "STUB_PYTHON", "/nonexistent/python3")
    pool = prestart.PrestartPool(cgroup_layout(), 2, SMALL)
    try:
        assert not pool.wait_ready(1)  # returns once the pool has given up
        assert pool.size == 0
        assert pool.claim(SMALL, job(SLEEP)) is None  # the launcher goes direct
        assert pool.created == pool.removed == 3
        assert our_groups(os.getpid()) == []
    finally:
        pool.close()


def test_concurrent_sandbox_starts_get_distinct_groups() -> None:
    pool = prestart.enable(2)
    assert pool is not None and pool.wait_ready(2)
    package = resolve_agent("builtin:random")
    workers = [ProcessWorker(package, level=IsolationLevel.SANDBOX) for _ in range(3)]
    go, started, done = threading.Barrier(3), threading.Barrier(4), threading.Event()

    def start(worker: ProcessWorker) -> None:
        go.wait()
        worker.start()
        started.wait()
        done.wait()  # bwrap --die-with-parent follows the thread that started it: stay

    threads = [threading.Thread(target=start, args=(worker,)) for worker in workers]
    try:
        for thread in threads:
            thread.start()
        started.wait()
        assert pool.claimed + pool.missed == 3 and pool.claimed >= 1  # a slot or direct each
        members: dict[Path, set[int]] = {}
        for worker in workers:
            assert worker.lifecycle.state is LifecycleState.ONLINE, worker.lifecycle.history
            assert worker.proc is not None and worker.proc.cgroup is not None
            pids = set(worker.proc.cgroup.pids())  # setpriv/bwrap, its init, the runner
            assert worker.proc.pid in pids
            members[worker.proc.cgroup.dirs["memory"]] = pids
        assert len(members) == 3
        first, second, third = members.values()
        assert not (first & second or first & third or second & third)
    finally:
        for worker in workers:
            worker.close()
        done.set()
        for thread in threads:
            thread.join()
        prestart.disable()


def test_rlimits_apply_to_the_exec_and_a_low_fd_limit_still_passes_fds(
    pool: prestart.PrestartPool,
) -> None:
    read_end, write_end = os.pipe()
    os.close(write_end)
    nofile = 16  # below the stub's own control socket and the fds it moves
    limits = [(resource.RLIMIT_NOFILE, nofile, nofile), (resource.RLIMIT_CORE, 0, 0)]
    claimed = pool.claim(SMALL, prestart.LaunchJob(SLEEP, dict(ENV), None, limits, {read_end: 3}))
    os.close(read_end)
    assert claimed is not None
    popen, group = claimed
    try:
        text = Path(f"/proc/{popen.pid}/limits").read_text()
        assert re.search(r"Max open files\s+16\s+16", text), text
        assert re.search(r"Max core file size\s+0\s+0", text), text
        assert set(os.listdir(f"/proc/{popen.pid}/fd")) == {"0", "1", "2", "3"}
    finally:
        stop(popen, group, pool)
