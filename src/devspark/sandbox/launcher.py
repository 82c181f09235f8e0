"""Start agent processes at the ``process``, ``sandbox`` and ``gvisor`` levels.

The ``sandbox`` stack, outermost first: a per-agent cgroup (joined by the child before
exec, so no fork escapes accounting), rlimits, ``setpriv`` to the unprivileged sandbox
user, then bubblewrap with every namespace unshared, read-only ``/usr``, a size-capped
private ``/tmp``, the agent read-only at ``/agent``, its state folder at ``/state``, and
the seccomp filter. The host side keeps the deadlines, output caps and reaping.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devspark.core.isolation import IsolationLevel
from devspark.sandbox import gvisor, prestart, reaper, seccomp
from devspark.sandbox.cgroups import Cgroup, CgroupLimits, CgroupUsage, group_name
from devspark.sandbox.isolation import NODE, PYTHON, cgroup_layout, require, sandbox_user

_SECCOMP_FD = 3  # the filter's fd number in a pre-started slot (the first after stdio)
_CLEAN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """Everything needed to start one agent process."""

    language: str
    entrypoint: str
    agent_dir: Path
    sdk_dir: Path
    state_dir: Path
    deps_dir: Path | None = None
    memory_mb: int = 256
    cpu_cores: float = 1.0
    max_pids: int = 64
    cpu_seconds: int = 600
    tmp_mb: int = 64
    file_mb: int = 64
    max_files: int = 256
    network: str | None = None  # None, "loopback" or "host"
    adapter: str = "native"  # "kaggle": the Python runner plays a Kaggle submission

    def interpreter(self, root_agent: str, root_sdk: str, root_deps: str | None) -> list[str]:
        """The command run inside the isolation, given where the folders are mounted."""
        if self.language == "python":
            argv = [
                str(PYTHON),
                "-I",
                "-S",
                "-B",
                f"{root_sdk}/{compiled_runner(self.sdk_dir)}",
                root_agent,
                self.entrypoint,
            ]
            if root_deps is not None:
                argv.append(f"{root_deps}/site-packages")
            if self.adapter != "native":
                argv.append(f"--adapter={self.adapter}")
            return argv
        heap = max(16, self.memory_mb * 3 // 4)
        return [
            str(NODE),
            f"--max-old-space-size={heap}",
            f"{root_sdk}/js/runner.mjs",
            root_agent,
            self.entrypoint,
        ]


_COMPILE = (
    "import py_compile, sys; "
    "py_compile.compile(sys.argv[1], cfile=sys.argv[2], dfile='/sdk/runner.py', doraise=True)"
)


@functools.cache
def compiled_runner(sdk_dir: Path) -> str:
    """The Python runner's file name in a staged SDK: its bytecode when it can be made.

    A script is compiled at every start (4-9 ms of a loaded host's cold start:
    ``runner.py ready`` against ``runner.pyc ready`` in
    ``python benchmarks/cold_start.py --stages``); a ``.pyc`` run as the script is not.
    It is compiled once per staged SDK by the sandbox's own interpreter and named after
    that interpreter's file, so an upgraded Python never meets a stale magic number.
    ``runner.py`` when it cannot be written (then the start only costs more).
    """
    try:
        interpreter = PYTHON.resolve()
        info = interpreter.stat()
    except OSError:
        return "runner.py"
    tag = hashlib.sha256(f"{interpreter}:{info.st_size}:{info.st_mtime_ns}".encode()).hexdigest()
    name = f"runner-{tag[:12]}.pyc"
    if (sdk_dir / name).is_file():
        return name
    scratch = sdk_dir / f".{name}.{os.getpid()}"
    argv = [str(PYTHON), "-I", "-S", "-c", _COMPILE, str(sdk_dir / "runner.py"), str(scratch)]
    try:
        subprocess.run(argv, capture_output=True, timeout=30, check=True, env=_CLEAN_ENV)
        scratch.chmod(0o644)
        scratch.replace(sdk_dir / name)
    except (OSError, subprocess.SubprocessError):
        scratch.unlink(missing_ok=True)
        return "runner.py"
    return name


def _rlimits(spec: ProcessSpec, level: IsolationLevel) -> list[tuple[int, int]]:
    if level is IsolationLevel.GVISOR:  # runsc's Go runtime needs address space and fds;
        return [
            (resource.RLIMIT_CPU, spec.cpu_seconds),
            (resource.RLIMIT_CORE, 0),
        ]  # the agent's are in the OCI spec
    limits = [
        (resource.RLIMIT_CPU, spec.cpu_seconds),
        (resource.RLIMIT_FSIZE, spec.file_mb << 20),
        (resource.RLIMIT_NOFILE, spec.max_files),
        (resource.RLIMIT_CORE, 0),
    ]
    if spec.language == "python":  # V8 reserves address space; Node gets cgroup + heap cap
        limits.append((resource.RLIMIT_AS, (spec.memory_mb + 64) << 20))
    return limits


def _rlimit_triples(spec: ProcessSpec, level: IsolationLevel) -> list[tuple[int, int, int]]:
    """(resource, soft, hard): soft = hard, except CPU (SIGXCPU, then SIGKILL 5 s later)."""
    return [
        (which, value, value + 5 if which == resource.RLIMIT_CPU else value)
        for which, value in _rlimits(spec, level)
    ]


def _preexec(spec: ProcessSpec, level: IsolationLevel, cgroup: Cgroup | None) -> Callable[[], None]:
    limits = _rlimit_triples(spec, level)

    def run_in_child() -> None:
        if cgroup is not None:
            cgroup.attach_self()
        for which, soft, hard in limits:
            resource.setrlimit(which, (soft, hard))

    return run_in_child


def confined_argv(*, hostname: str, home: str, tmp_mb: int, share_net: bool = False) -> list[str]:
    """The start of every bubblewrap command: who runs it and what it sees of the host.

    As root, ``setpriv`` first drops to the unprivileged sandbox user (bubblewrap never
    runs as root). Then bubblewrap unshares every namespace (the network too, unless
    ``share_net``), forbids new user namespaces, drops every capability, clears the
    environment and shows the host's ``/usr`` read-only, with a private ``/proc``,
    ``/dev`` and a ``tmp_mb``-capped ``/tmp``. Callers add their own mounts, ``--`` and
    the command.
    """
    argv: list[str] = []
    user = sandbox_user()
    if user is not None:
        argv += ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--"]
    argv += [
        "bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
        "--new-session", "--cap-drop", "ALL", "--clearenv", "--hostname", hostname,
        "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", home, "--setenv", "LANG", "C.UTF-8",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
        "--proc", "/proc", "--dev", "/dev", "--size", str(tmp_mb << 20), "--tmpfs", "/tmp",
    ]  # fmt: skip
    if share_net:
        argv.append("--share-net")
    return argv


def _bwrap_argv(spec: ProcessSpec, seccomp_fd: int) -> list[str]:
    argv = confined_argv(
        hostname="agent", home="/state", tmp_mb=spec.tmp_mb, share_net=spec.network == "host"
    )
    argv += [
        "--ro-bind", str(spec.agent_dir), "/agent", "--ro-bind", str(spec.sdk_dir), "/sdk",
        "--bind", str(spec.state_dir), "/state",
    ]  # fmt: skip
    deps = None
    if spec.deps_dir is not None:
        argv += ["--ro-bind", str(spec.deps_dir), "/deps"]
        deps = "/deps"
    argv += ["--chdir", "/agent", "--seccomp", str(seccomp_fd), "--"]
    return argv + spec.interpreter("/agent", "/sdk", deps)


class AgentProcess:
    """A started agent process: its pipes, its cgroup and how to account and end it."""

    def __init__(self, spec: ProcessSpec, level: IsolationLevel) -> None:
        require(level, spec.language)
        reaper.become_subreaper()
        reaper.reap_orphans()  # an orphan that finished dying after the last close
        self.spec = spec
        self.level = level
        self.cgroup: Cgroup | None = None
        self._pool = prestart.current() if cgroup_layout().available() is None else None
        self._bundle: gvisor.Bundle | None = None
        if level is IsolationLevel.GVISOR:
            self._bundle = gvisor.Bundle.create(spec)
        seccomp_fd = -1
        if level is IsolationLevel.SANDBOX:
            seccomp_fd = seccomp.filter_fd(allow_network=spec.network is not None)
        self.started = time.monotonic()
        try:
            self.popen = self._launch(seccomp_fd)
        except BaseException:
            self._cleanup_cgroup()
            raise
        finally:
            if seccomp_fd >= 0:
                os.close(seccomp_fd)
        reaper.track(self.popen.pid)
        assert self.popen.stdin and self.popen.stdout and self.popen.stderr
        self.stdin_fd = self.popen.stdin.fileno()
        self.stdout_fd = self.popen.stdout.fileno()
        self.stderr_fd = self.popen.stderr.fileno()
        os.set_blocking(self.stdout_fd, False)
        os.set_blocking(self.stderr_fd, False)

    def _argv(self, seccomp_fd: int) -> tuple[list[str], str | None]:
        """The command and its working folder (``None``: the sandbox sets its own)."""
        spec = self.spec
        if self.level is IsolationLevel.SANDBOX:
            return _bwrap_argv(spec, seccomp_fd), None
        if self._bundle is not None:
            return self._bundle.argv(), None
        deps = str(spec.deps_dir) if spec.deps_dir else None
        return spec.interpreter(str(spec.agent_dir), str(spec.sdk_dir), deps), str(spec.agent_dir)

    def _launch(self, seccomp_fd: int) -> subprocess.Popen[bytes]:
        """Exec in a pre-started slot when one is ready, else fork, join a new group, exec."""
        spec = self.spec
        env = dict(_CLEAN_ENV, HOME=str(spec.state_dir))
        limits = CgroupLimits(spec.memory_mb << 20, spec.cpu_cores, spec.max_pids)
        if self._pool is not None:
            fds = {seccomp_fd: _SECCOMP_FD} if seccomp_fd >= 0 else {}
            argv, cwd = self._argv(_SECCOMP_FD)
            job = prestart.LaunchJob(argv, env, cwd, _rlimit_triples(spec, self.level), fds)
            claimed = self._pool.claim(limits, job)
            if claimed is not None:
                popen, self.cgroup = claimed
                return popen
        if cgroup_layout().available() is None:
            self.cgroup = Cgroup(cgroup_layout(), group_name(), limits)
        argv, cwd = self._argv(seccomp_fd)
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(seccomp_fd,) if seccomp_fd >= 0 else (),
            env=env,
            cwd=cwd,
            preexec_fn=_preexec(spec, self.level, self.cgroup),
            start_new_session=True,
            bufsize=0,
        )

    @property
    def pid(self) -> int:
        """Host pid of the outermost process (setpriv/bwrap or the interpreter)."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether the outermost process is still running."""
        return self.popen.poll() is None

    def raw_usage(self) -> CgroupUsage:
        """Cumulative CPU, peak memory and limit hits of everything the agent started."""
        if self.cgroup is not None:
            return self.cgroup.usage()
        return _proc_usage(self.popen.pid)

    def cpu_and_peak(self) -> tuple[float, int]:
        """Cheap reading for episode accounting: CPU seconds and peak bytes."""
        if self.cgroup is not None:
            return self.cgroup.cpu_s(), self.cgroup.peak_bytes()
        usage = _proc_usage(self.popen.pid)
        return usage.cpu_s, usage.peak_bytes

    def reset_peak(self) -> None:
        """Start a new peak-memory window."""
        if self.cgroup is not None:
            self.cgroup.reset_peak()

    def exit_signal(self) -> int | None:
        """The signal that ended the process, if it was killed by one."""
        code = self.popen.returncode
        if code is None:
            return None
        if code < 0:
            return -code
        if self.level is not IsolationLevel.PROCESS and code > 128:  # bwrap/runsc: 128 + signal
            return code - 128
        return None

    def close(self, grace: float = 0.2) -> None:
        """End the process and everything it started; reap; remove the cgroup."""
        for stream in (self.popen.stdin,):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.kill()
            self.popen.wait()
        reaper.untrack(self.popen.pid)
        self._cleanup_cgroup()
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()
        if self._bundle is not None:
            self._bundle.remove()

    def _cleanup_cgroup(self) -> None:
        cgroup, self.cgroup = self.cgroup, None
        if cgroup is None:
            reaper.reap_orphans()
        else:  # kill, wait until empty, rmdir: close() leaves nothing behind
            prestart.teardown(cgroup)


def _proc_usage(pid: int) -> CgroupUsage:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:  # noqa: PTH123
            fields = handle.read().rsplit(b")", 1)[1].split()
        with open(f"/proc/{pid}/status", "rb") as handle:  # noqa: PTH123
            status = handle.read()
    except OSError:
        return CgroupUsage(0.0, 0, 0, 0, 0)
    cpu = (int(fields[11]) + int(fields[12])) / _TICK
    peak = 0
    for line in status.splitlines():
        if line.startswith(b"VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return CgroupUsage(cpu, peak, 0, 0, 0)
