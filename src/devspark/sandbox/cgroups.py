"""Per-agent control groups: memory, CPU and pids limits, accounting, kill.

Supports both cgroup v1 (separate ``memory``, ``cpu``, ``cpuacct``, ``pids``
hierarchies, as on this host) and v2 (one unified hierarchy). On hybrid hosts the v2
hierarchy is still used for ``cgroup.kill`` when it has no controllers. Groups are
created below the cgroup the host process itself lives in, so a supervisor's limits
still apply to agents.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from devspark.core.errors import FailedPreconditionError

CGROUP_ROOT = Path("/sys/fs/cgroup")
_V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
_names = itertools.count()


def group_name() -> str:
    """A new group name, ``devspark-PID-N``: unique in this process, swept after its death."""
    return f"devspark-{os.getpid()}-{next(_names)}"


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    with open(path, "rb") as handle:  # noqa: PTH123 - plain open is cheapest for sysfs
        return handle.read().decode()


def _own_paths() -> dict[str, str]:
    """Map hierarchy name (controller, or "" for v2) to this process's cgroup path."""
    paths: dict[str, str] = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


@dataclass(frozen=True, slots=True)
class CgroupLimits:
    """Limits applied to one agent's group."""

    memory_bytes: int
    cpu_cores: float
    max_pids: int


@dataclass(frozen=True, slots=True)
class CgroupUsage:
    """Cumulative accounting of a group since creation (or the last peak reset)."""

    cpu_s: float
    peak_bytes: int
    memory_hits: int
    pids_hits: int
    oom_kills: int


class CgroupLayout:
    """Where this host keeps cgroups, detected once."""

    def __init__(self, root: Path = CGROUP_ROOT) -> None:
        self.root = root
        self.v2_only = (root / "cgroup.controllers").is_file()
        own = _own_paths()
        self.bases: dict[str, Path] = {}
        if self.v2_only:
            self.bases[""] = root / own.get("", "/").lstrip("/")
        else:
            for name in _V1_CONTROLLERS:
                mount = root / name
                if (mount / "cgroup.procs").is_file():
                    self.bases[name] = mount / own.get(name, "/").lstrip("/")
            unified = root / "unified"
            if (unified / "cgroup.procs").is_file():
                self.bases[""] = unified / own.get("", "/").lstrip("/")

    def sweep_stale(self, prefix: str = "devspark-") -> int:
        """Remove empty groups left by dead DevSpark processes (named ``devspark-PID-N``).

        Returns how many were removed. Groups of live processes are never touched.
        """
        removed = 0
        for base in self.bases.values():
            if not base.is_dir():
                continue
            for path in base.glob(f"{prefix}*-*"):
                owner = path.name.removeprefix(prefix).split("-", 1)[0]
                if not owner.isdigit() or Path(f"/proc/{owner}").exists():
                    continue
                with contextlib.suppress(OSError):  # not empty: leave it for an operator
                    path.rmdir()
                    removed += 1
        return removed

    def available(self) -> str | None:
        """``None`` when usable, else the reason cgroups cannot be used."""
        if self.v2_only:
            base = self.bases[""]
            enabled = _read(base / "cgroup.subtree_control").split() if base.exists() else []
            missing = {"memory", "cpu", "pids"} - set(enabled)
            if missing:  # enabling them is the supervisor's job (systemd Delegate=yes)
                return (
                    f"cgroup v2 controllers {sorted(missing)} are not enabled for children of "
                    f"{base}; delegate them (e.g. systemd Delegate=yes) to run sandboxes"
                )
            return None
        missing = {"memory", "cpu", "pids"} - set(self.bases)
        if missing:
            return f"cgroup v1 controllers {sorted(missing)} are not mounted under {self.root}"
        if not os.access(self.bases["memory"], os.W_OK):
            return f"no write access to {self.bases['memory']} (run as root)"
        return None


class Cgroup:
    """One agent's group across every hierarchy; create, limit, account, kill, remove."""

    def __init__(self, layout: CgroupLayout, name: str, limits: CgroupLimits) -> None:
        self.layout = layout
        self.dirs: dict[str, Path] = {key: base / name for key, base in layout.bases.items()}
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self._apply(limits)
        self.procs_files = [str(path / "cgroup.procs") for path in self.dirs.values()]
        if layout.v2_only:
            cpu_file, peak_file = self.dirs[""] / "cpu.stat", self.dirs[""] / "memory.peak"
            if not peak_file.exists():
                peak_file = self.dirs[""] / "memory.current"
        else:
            cpu_file = self.dirs.get("cpuacct", self.dirs["cpu"]) / "cpuacct.usage"
            peak_file = self.dirs["memory"] / "memory.max_usage_in_bytes"
        # Kept open: pread on an open cgroup file costs ~1 us, open/read/close ~11 us.
        self._cpu_fd = os.open(cpu_file, os.O_RDONLY)
        self._peak_fd = os.open(peak_file, os.O_RDONLY)

    def cpu_s(self) -> float:
        """CPU seconds used by the group so far (the hot-path reading)."""
        text = os.pread(self._cpu_fd, 4096, 0)
        if self.layout.v2_only:
            return int(text.split(b"\n", 1)[0].split()[1]) / 1e6  # first line: usage_usec
        return int(text) / 1e9

    def peak_bytes(self) -> int:
        """Peak memory since creation or the last :meth:`reset_peak`."""
        return int(os.pread(self._peak_fd, 64, 0))

    def _apply(self, limits: CgroupLimits) -> None:
        period = 100_000
        quota = max(1000, int(limits.cpu_cores * period))
        if self.layout.v2_only:
            base = self.dirs[""]
            _write(base / "memory.max", str(limits.memory_bytes))
            with contextlib.suppress(FileNotFoundError):
                _write(base / "memory.swap.max", "0")
            _write(base / "cpu.max", f"{quota} {period}")
            _write(base / "pids.max", str(limits.max_pids))
            return
        memory = self.dirs["memory"]
        files = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
        if limits.memory_bytes > int(_read(memory / files[0])):
            files.reverse()  # v1 keeps limit <= memsw.limit: raise memsw first
        for name in files:
            try:
                _write(memory / name, str(limits.memory_bytes))
            except FileNotFoundError:  # memsw exists only with swap accounting
                continue
        _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(period))
        _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(quota))
        _write(self.dirs["pids"] / "pids.max", str(limits.max_pids))

    def set_limits(self, limits: CgroupLimits) -> None:
        """Write ``limits`` unless they are the ones already in force (a few us when equal)."""
        if limits != self.limits:
            self._apply(limits)
            self.limits = limits

    def reset_accounting(self) -> None:
        """Zero the peak memory, limit-hit and CPU counters (v1; v2 resets the peak only).

        Used when a pre-started group is handed to its agent, so nothing the launcher did
        before the agent's ``exec`` is billed to it.
        """
        self.reset_peak()
        if self.layout.v2_only:
            return
        with contextlib.suppress(OSError):
            _write(self.dirs["memory"] / "memory.failcnt", "0")
        _write(self.dirs.get("cpuacct", self.dirs["cpu"]) / "cpuacct.usage", "0")

    def attach_self(self) -> None:
        """Move the calling process into every hierarchy (used in the child before exec)."""
        for path in self.procs_files:
            fd = os.open(path, os.O_WRONLY)
            os.write(fd, b"0")
            os.close(fd)

    def usage(self) -> CgroupUsage:
        """Read CPU time, peak memory and limit hits."""
        if self.layout.v2_only:
            base = self.dirs[""]
            stat = dict(line.split() for line in _read(base / "cpu.stat").splitlines())
            events = dict(line.split() for line in _read(base / "memory.events").splitlines())
            peak_path = base / "memory.peak"
            peak = (
                int(_read(peak_path)) if peak_path.exists() else int(_read(base / "memory.current"))
            )
            pids_events = dict(line.split() for line in _read(base / "pids.events").splitlines())
            return CgroupUsage(
                cpu_s=int(stat["usage_usec"]) / 1e6,
                peak_bytes=peak,
                memory_hits=int(events.get("max", 0)),
                pids_hits=int(pids_events.get("max", 0)),
                oom_kills=int(events.get("oom_kill", 0)),
            )
        memory = self.dirs["memory"]
        oom = dict(line.split() for line in _read(memory / "memory.oom_control").splitlines())
        pids_events_path = self.dirs["pids"] / "pids.events"
        pids_hits = 0
        if pids_events_path.exists():
            pids_hits = int(
                dict(ln.split() for ln in _read(pids_events_path).splitlines()).get("max", 0)
            )
        cpuacct = self.dirs.get("cpuacct", self.dirs["cpu"])
        return CgroupUsage(
            cpu_s=int(_read(cpuacct / "cpuacct.usage")) / 1e9,
            peak_bytes=int(_read(memory / "memory.max_usage_in_bytes")),
            memory_hits=int(_read(memory / "memory.failcnt")),
            pids_hits=pids_hits,
            oom_kills=int(oom.get("oom_kill", 0)),
        )

    def reset_peak(self) -> None:
        """Start a new peak-memory window (per episode accounting)."""
        if self.layout.v2_only:
            with contextlib.suppress(OSError):  # memory.peak is resettable from Linux 6.12
                _write(self.dirs[""] / "memory.peak", "0")
            return
        _write(self.dirs["memory"] / "memory.max_usage_in_bytes", "0")

    def pids(self) -> list[int]:
        """Processes still in the group."""
        key = "" if self.layout.v2_only else "pids"
        text = _read(self.dirs[key] / "cgroup.procs")
        return [int(pid) for pid in text.split()]

    def kill(self, timeout: float = 2.0) -> None:
        """Kill every process in the group and wait until it is empty."""
        unified = self.dirs.get("")
        if unified is not None and (unified / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(unified / "cgroup.kill", "1")
        deadline = time.monotonic() + timeout
        while True:
            remaining = self.pids()
            if not remaining:
                return
            for pid in remaining:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise FailedPreconditionError(
                    f"cgroup still holds processes {remaining} after kill"
                )
            time.sleep(0.001)

    def remove(self) -> None:
        """Remove the (empty) group from every hierarchy."""
        for fd in (self._cpu_fd, self._peak_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        for path in self.dirs.values():
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while the last zombie is being reaped
                    time.sleep(0.002)
