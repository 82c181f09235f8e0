"""Pre-started launch slots: a fresh cgroup with a process already in it, waiting to exec.

Joining a cgroup v1 hierarchy (writing ``cgroup.procs``) takes the kernel's cgroup
thread-group lock for writing; after a running agent that write waited 11-15 ms at the
p50 on the loaded 2-CPU reference host (``python benchmarks/cold_start.py --stages``),
consistent with a wait for an RCU grace period. A pool of bare pre-created groups does
not avoid it (joining a group made earlier costs the same, same command): the process
that joins pays it. A slot therefore holds a fresh group *and* a small stub
(``/usr/bin/python3 -I -S``, started and joining at lower priority) that has already
joined it and waits on a private socket at normal priority. Claiming a slot writes the
requested limits, zeroes the accounting, and sends the stub the command, environment,
rlimits and file descriptors; the stub applies them and ``exec``s the sandbox in its own
place (same pid, same pipes).

A background thread keeps ``size`` slots ready and removes retired groups (of dead or
failed slots), ``quiet_s`` after the last claim so it does not compete with the start it
served. An agent's own group is still killed, emptied and removed by
``AgentProcess.close()`` (``--stages`` prints what that costs), so nothing outlives a
close. Groups are never reused: each agent gets one nobody has run in. An empty pool, a
dead stub or unusable cgroups fall back to the direct launch. The pool is per process (a
forked child starts its own), off by default (``DEVSPARK_PRESTART=N`` or :func:`enable`),
and :func:`disable` (also run at exit) kills every stub and removes every group it made.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import multiprocessing.util
import os
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from devspark.sandbox import reaper
from devspark.sandbox.cgroups import Cgroup, CgroupLayout, CgroupLimits, group_name
from devspark.sandbox.isolation import cgroup_layout

STUB_PYTHON = "/usr/bin/python3"
_READY_TIMEOUT_S = 5.0  # for a stub to join its group, and for a claimed stub to exec
_MAX_FAILURES = 3
_STUB = """
import fcntl, json, os, resource, signal, socket, sys
CTL = 100  # the control socket moves here: fds below stay free for the agent
if int(sys.argv[1]) != CTL:
    os.dup2(int(sys.argv[1]), CTL, inheritable=False)
    os.close(int(sys.argv[1]))
os.set_inheritable(CTL, False)
ctl = socket.socket(fileno=CTL)
nice = int(sys.argv[2])
root = os.geteuid() == 0  # only root may raise its priority back before the exec
if root:
    os.setpriority(os.PRIO_PROCESS, 0, nice + 10)  # yield to the starts in progress
for path in sys.argv[3:]:
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, b"0")
    os.close(fd)
if root:  # back to normal before waiting: a claim must not queue behind busy CPUs
    os.setpriority(os.PRIO_PROCESS, 0, nice)
ctl.send(b"r")
data, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 8)
if not data:
    os._exit(0)
job = json.loads(data)
try:
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 200) for fd in fds]  # before NOFILE
    for fd in fds:
        os.close(fd)
    for fd, target in zip(moved, job["fds"]):
        os.dup2(fd, target)
    for which, soft, hard in job["rlimits"]:
        resource.setrlimit(which, (soft, hard))
    if job["cwd"]:
        os.chdir(job["cwd"])
    os.execvpe(job["argv"][0], job["argv"], job["env"])
except OSError as exc:
    ctl.send(f"E{exc.errno or 0}:{exc.strerror or exc}".encode())
os._exit(127)
"""


@dataclass(frozen=True, slots=True)
class LaunchJob:
    """What a claimed slot ``exec``s: the same fields ``subprocess.Popen`` would get."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    rlimits: list[tuple[int, int, int]]  # (resource, soft, hard)
    fds: dict[int, int] = field(default_factory=dict)  # host fd -> fd number in the agent


@dataclass(slots=True)
class _Slot:
    cgroup: Cgroup
    popen: subprocess.Popen[bytes]
    ctl: socket.socket

    def discard(self) -> None:
        """Kill the stub, reap it, close its pipes (the group is torn down by the caller)."""
        self.ctl.close()
        with contextlib.suppress(ProcessLookupError):
            self.popen.kill()
        self.popen.wait()
        reaper.untrack(self.popen.pid)
        for stream in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


def empty(cgroup: Cgroup) -> None:
    """Kill what is left in ``cgroup`` and wait until it is empty, reaping adopted orphans."""
    for _ in range(100):
        try:
            cgroup.kill(timeout=0.05)
            break
        except Exception:  # zombies adopted by us: reap and retry
            reaper.reap_orphans()
    reaper.reap_orphans()


def teardown(cgroup: Cgroup) -> None:
    """Empty ``cgroup`` (see :func:`empty`) and remove it from every hierarchy."""
    empty(cgroup)
    cgroup.remove()


def _start_stub(cgroup: Cgroup) -> _Slot | None:
    """Start a stub that joins ``cgroup`` and waits; ``None`` when it did not get ready."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    nice = str(os.getpriority(os.PRIO_PROCESS, 0))
    argv = [STUB_PYTHON, "-I", "-S", "-B", "-c", _STUB, str(child.fileno()), nice]
    try:
        popen = subprocess.Popen(
            [*argv, *cgroup.procs_files],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(child.fileno(),),
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            start_new_session=True,
            bufsize=0,
        )
    except OSError:
        parent.close()
        return None
    finally:
        child.close()
    reaper.track(popen.pid)
    slot = _Slot(cgroup, popen, parent)
    parent.settimeout(_READY_TIMEOUT_S)  # also bounds a claim's wait for the exec
    try:
        if parent.recv(1) == b"r":
            return slot
    except OSError:
        pass
    slot.discard()
    return None


class PrestartPool:
    """Keeps ``size`` slots ready and retires used groups, both on a background thread."""

    def __init__(
        self, layout: CgroupLayout, size: int, limits: CgroupLimits, quiet_s: float = 0.05
    ) -> None:
        self.layout = layout
        self.size = size
        self._limits = limits  # what new slots are created with: the last ones asked for
        self._ready: deque[_Slot] = deque()
        self._retired: deque[Cgroup] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._last_claim = 0.0
        self._failures = 0  # stubs in a row that failed to start or join
        self.quiet_s = quiet_s
        self.created = 0  # groups made by this pool (tests and the benchmark read these)
        self.removed = 0
        self.claimed = 0  # starts served from a ready slot
        self.missed = 0  # starts that found none ready and launched directly
        self._thread = threading.Thread(target=self._run, name="devspark-prestart", daemon=True)
        self._thread.start()

    # -- public ----------------------------------------------------------------------
    def claim(
        self, limits: CgroupLimits, job: LaunchJob
    ) -> tuple[subprocess.Popen[bytes], Cgroup] | None:
        """Start ``job`` in a ready slot; ``None`` when none is ready (launch directly).

        Raises:
            OSError: when the stub could not ``exec`` the command (as ``Popen`` would).

        """
        slot = self._take(limits)
        if slot is None:
            return None
        payload = json.dumps(
            {
                "argv": job.argv,
                "env": job.env,
                "cwd": job.cwd,
                "rlimits": job.rlimits,
                "fds": list(job.fds.values()),
            }
        ).encode()
        try:
            slot.cgroup.set_limits(limits)
            slot.cgroup.reset_accounting()
            socket.send_fds(slot.ctl, [payload], list(job.fds))
        except OSError:  # the stub died while waiting: launch directly instead
            slot.discard()
            self.retire(slot.cgroup)
            return None
        try:  # EOF: exec done (the socket is close-on-exec); a timeout raises TimeoutError
            answer = slot.ctl.recv(4096)
        except BaseException:
            slot.discard()
            self.retire(slot.cgroup)
            raise
        if answer:
            slot.discard()
            self.retire(slot.cgroup)
            code, _, message = answer.decode(errors="replace")[1:].partition(":")
            raise OSError(int(code), f"{message}: {job.argv[0]!r}")
        slot.ctl.close()
        slot.popen.args = job.argv
        return slot.popen, slot.cgroup

    def _take(self, limits: CgroupLimits) -> _Slot | None:
        with self._wake:
            self._limits = limits
            self._last_claim = time.monotonic()
            self._wake.notify()
            while not self._closing and self._ready:
                slot = self._ready.popleft()
                if slot.popen.poll() is None:
                    self.claimed += 1
                    return slot
                self._retired.append(slot.cgroup)  # a dead stub: its group goes
                slot.discard()
            self.missed += 1
            return None

    def retire(self, cgroup: Cgroup) -> None:
        """Hand over a used group: it is emptied again and removed in the background."""
        with self._wake:
            if not self._closing:
                self._retired.append(cgroup)
                self._wake.notify()
                return
        teardown(cgroup)
        self.removed += 1

    def resize(self, size: int) -> None:
        """Keep ``size`` slots ready from now on (extra ones stay until claimed or closed)."""
        with self._wake:
            self.size = size
            self._wake.notify_all()

    def ready(self) -> int:
        """How many slots are ready to claim now."""
        with self._wake:
            return len(self._ready)

    def wait_ready(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` slots are ready and no group awaits removal (tests, benchmark).

        Returns at once, ``False``, when the pool keeps fewer than ``count`` slots (it was
        resized, or gave up after stubs failed to start).
        """
        with self._wake:
            self._wake.wait_for(
                lambda: self.size < count or (len(self._ready) >= count and not self._retired),
                timeout,
            )
            return len(self._ready) >= count and not self._retired

    def close(self) -> None:
        """Stop the thread, kill every stub and remove every group this pool created."""
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()
        while self._ready:
            slot = self._ready.popleft()
            slot.discard()
            teardown(slot.cgroup)
            self.removed += 1
        while self._retired:
            teardown(self._retired.popleft())
            self.removed += 1

    def forget(self) -> None:
        """In a forked child: drop the parent's slots without touching its processes."""
        self._closing = True
        for slot in self._ready:
            slot.ctl.close()
            for stream in (slot.popen.stdin, slot.popen.stdout, slot.popen.stderr):
                if stream is not None:
                    stream.close()
            slot.popen.returncode = 0  # not our child: never wait for it
        self._ready.clear()
        self._retired.clear()

    # -- background thread -------------------------------------------------------------
    def _due(self) -> bool:
        """Wait (holding the condition) for background work that is due; ``False``: closing.

        Work is due once the start the last claim served has had ``quiet_s`` to itself,
        or at once when no slot is left.
        """
        while not self._closing:
            if not self._retired and len(self._ready) >= self.size:
                self._wake.wait()
                continue
            wait = self._last_claim + self.quiet_s - time.monotonic()
            if wait <= 0 or not self._ready:  # empty: the next start would miss, fill now
                return True
            self._wake.wait(wait)
        return False

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._due():
                    return
                retired = self._retired[0] if self._retired else None  # popped once removed
                refill = len(self._ready) < self.size
                limits = self._limits
            if refill:  # a claim may be waiting: refill before tearing down
                self._add_slot(limits)
            if retired is not None:
                teardown(retired)
                with self._wake:
                    self._retired.popleft()
                    self.removed += 1
                    self._wake.notify_all()

    def _add_slot(self, limits: CgroupLimits) -> None:
        cgroup = Cgroup(self.layout, group_name(), limits)
        with self._wake:
            self.created += 1
        slot = _start_stub(cgroup)
        if slot is None:  # could not start or join: count it, launch directly meanwhile
            self._give_up(cgroup)
            return
        with self._wake:
            self._failures = 0
            if self._closing:
                self._retired.append(cgroup)
                slot.discard()
                return
            self._ready.append(slot)
            self._wake.notify_all()

    def _give_up(self, cgroup: Cgroup) -> None:
        """A stub failed to start or join: after ``_MAX_FAILURES`` in a row, stop refilling."""
        teardown(cgroup)
        with self._wake:
            self.removed += 1
            self._failures += 1
            if self._failures >= _MAX_FAILURES:
                self.size = 0  # claims find nothing and launch directly
            self._wake.notify_all()


_lock = threading.Lock()
_pool: PrestartPool | None = None
_suspended = 0


def current() -> PrestartPool | None:
    """This process's pool when enabled (``DEVSPARK_PRESTART`` or :func:`enable`), else None."""
    global _pool
    if _suspended:
        return None
    if _pool is not None:
        return _pool
    size = os.environ.get("DEVSPARK_PRESTART", "0")
    if size.isdigit() and int(size) > 0:
        return enable(int(size))
    return None


def enable(size: int = 2, limits: CgroupLimits | None = None) -> PrestartPool | None:
    """Start this process's pool with ``size`` ready slots; ``None`` when cgroups are unusable."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.resize(size)
            return _pool
        layout = cgroup_layout()
        if layout.available() is not None or not os.access(STUB_PYTHON, os.X_OK):
            return None
        _pool = PrestartPool(layout, size, limits or CgroupLimits(256 << 20, 1.0, 64))
        # A forked worker process (the arena's pool) exits through multiprocessing, which
        # skips atexit but runs its finalizers.
        multiprocessing.util.Finalize(None, disable, exitpriority=20)
        return _pool


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """Launch directly while inside, keeping the pool (the benchmark's same-run baseline)."""
    global _suspended
    _suspended += 1
    try:
        yield
    finally:
        _suspended -= 1


def disable() -> None:
    """Close this process's pool (every stub killed, every group removed).

    Agents still running from its slots die with it: bubblewrap's ``--die-with-parent``
    follows the thread that started the stub, the pool's own. Close them first.
    """
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


def _after_fork_in_child() -> None:
    global _pool, _lock
    _lock = threading.Lock()
    if _pool is not None:
        _pool.forget()
        _pool = None


atexit.register(disable)
os.register_at_fork(after_in_child=_after_fork_in_child)
