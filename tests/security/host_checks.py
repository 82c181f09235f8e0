"""Host checks shared by the hostile-agent tests (the CLI corpus and server uploads).

Before and after hostile agents play, they look at the host the way an attacker would
hope to change it: files (a world-writable canary in /var/tmp, the staged agents and SDK
in the runtime folder, an opponent's state folder, the repository's ``src/``, marker
files in the folders write probes aim at), processes of the sandbox user that this
process started, and the host environment (a canary variable agents must never see).

Other engineers run sandboxes and edit files concurrently, so "ours" is defined
narrowly: a surviving process counts when it descends from this process (the launcher
is a child subreaper, so escaped orphans come back to it), sits in one of this process's
cgroups, or carries the sleeper's name; a changed file outside the corpus and the
built-in agents counts when the sandbox user owns it or it holds the marker text.

Imported as a plain module: pytest's default ``prepend`` import mode puts this folder
on ``sys.path`` before it imports the test modules next to it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from devspark.testing.hostile import (
    CANARY_DIR,
    CANARY_FILE,
    HOSTILE_DIR,
    MARKER_NAME,
    SLEEPER_NAME,
)

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
STRICT_SRC = (HOSTILE_DIR, SRC / "devspark" / "agents")
MARKER_TEXT = b"devspark hostile marker"
GRACE_S = 2.0
CANARY_ENV = "DEVSPARK_CANARY_SECRET"
"""A host environment variable (set by the ``canary_secret`` fixture) no agent may see."""
CANARY_CONTENT = b"devspark hostile canary: agents must never read or change this\n"
MARKER_DIRS = [
    Path("/"),
    Path("/usr"),
    Path("/usr/bin"),
    Path("/usr/local"),
    Path("/etc"),
    Path("/tmp"),
    Path("/var/tmp"),
    CANARY_DIR,
    REPO,
    SRC,
]
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class FileState:
    """What we compare of one host file."""

    size: int
    mtime_ns: int
    mode: int
    uid: int
    digest: str


def file_state(path: Path) -> FileState | None:
    try:
        info = path.lstat()
        if path.is_dir() and not path.is_symlink():  # a folder's mtime moves with others' work
            return FileState(0, 0, info.st_mode, info.st_uid, "")
        if not path.is_file() or path.is_symlink():
            return FileState(info.st_size, info.st_mtime_ns, info.st_mode, info.st_uid, "")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
    return FileState(info.st_size, info.st_mtime_ns, info.st_mode, info.st_uid, digest)


def snapshot(root: Path, *, skip: tuple[Path, ...] = ()) -> dict[Path, FileState]:
    found: dict[Path, FileState] = {}
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d not in skip and d != "__pycache__"]
        for name in [*names, *dirs]:
            state = file_state(here / name)
            if state is not None:
                found[here / name] = state
    return found


@dataclass(frozen=True, slots=True)
class HostView:
    """Everything the host checks before and after one match."""

    canary: dict[Path, FileState]
    runtime: dict[Path, FileState]
    opponent_state: dict[Path, FileState]
    src: dict[Path, FileState]

    @classmethod
    def take(cls, runtime: Path, opponent_state: Path) -> HostView:
        return cls(
            canary=snapshot(CANARY_DIR),
            runtime=snapshot(runtime, skip=(runtime / "state",)),
            opponent_state=snapshot(opponent_state),
            src=snapshot(SRC),
        )


def strict_changes(before: dict[Path, FileState], after: dict[Path, FileState]) -> list[str]:
    changes = [f"changed {p}" for p, s in before.items() if p in after and after[p] != s]
    changes += [f"removed {p}" for p in before if p not in after]
    changes += [f"created {p}" for p in after if p not in before]
    return changes


def suspect(path: Path, state: FileState, uid: int) -> bool:
    """Whether a changed file outside the strictly checked trees looks like the agent's."""
    if state.uid == uid:
        return True
    with contextlib.suppress(OSError):
        return bool(state.digest) and MARKER_TEXT in path.read_bytes()
    return False


def runtime_changes(
    before: dict[Path, FileState], after: dict[Path, FileState], runtime: Path, uid: int
) -> list[str]:
    """Check the runtime folder (``state/`` was never walked).

    ``agents/`` and ``sdk/`` hold immutable, content-addressed copies: nothing there may
    change or vanish, and what appears must be a root-owned ``<sha256>`` folder (or the
    ``.<sha>-`` scratch folder another process is staging through). Other folders (the
    gVisor launcher's bundles, say) belong to other engineers' runs: there a change
    counts only when the sandbox user owns the file or it holds the marker text.
    """

    def staged(path: Path) -> tuple[bool, bool]:
        parts = path.relative_to(runtime).parts
        inside = bool(parts) and parts[0] in ("agents", "sdk")
        scratch = len(parts) >= 2 and parts[1].startswith(".")
        return inside, scratch

    changes = []
    for path, state in before.items():
        inside, scratch = staged(path)
        if path not in after:
            if inside and not scratch:
                changes.append(f"removed {path}")
        elif after[path] != state and ((inside and not scratch) or suspect(path, after[path], uid)):
            changes.append(f"changed {path}")
    for path, state in after.items():
        if path in before:
            continue
        inside, scratch = staged(path)
        parts = path.relative_to(runtime).parts
        hashed = len(parts) >= 2 and bool(_HEX64.match(parts[1]))
        if state.uid == uid or (inside and not (hashed or scratch)) or suspect(path, state, uid):
            changes.append(f"created {path} (uid {state.uid})")
    return changes


def strict_path(path: Path) -> bool:
    return any(path.is_relative_to(root) for root in STRICT_SRC)


def src_changes(before: dict[Path, FileState], after: dict[Path, FileState], uid: int) -> list[str]:
    strict_b = {p: s for p, s in before.items() if strict_path(p)}
    strict_a = {p: s for p, s in after.items() if strict_path(p)}
    changes = strict_changes(strict_b, strict_a)
    for path, state in after.items():
        if not strict_path(path) and before.get(path) != state and suspect(path, state, uid):
            changes.append(f"{'changed' if path in before else 'created'} {path}")
    return changes


def markers() -> list[Path]:
    return [folder / MARKER_NAME for folder in MARKER_DIRS if (folder / MARKER_NAME).exists()]


@dataclass(frozen=True, slots=True)
class Proc:
    """One process as /proc shows it."""

    pid: int
    ppid: int
    uid: int
    state: str
    start: int
    cgroup: str
    cmdline: str


def read_proc(pid: int) -> Proc | None:
    base = Path(f"/proc/{pid}")
    try:
        status = (base / "status").read_text()
        stat = (base / "stat").read_text()
        cgroup = (base / "cgroup").read_text()
        cmdline = (base / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    after_comm = stat.rsplit(")", 1)[1].split()
    return Proc(
        pid=pid,
        ppid=int(fields["PPid"].split()[0]),
        uid=int(fields["Uid"].split()[0]),
        state=fields["State"].strip(),
        start=int(after_comm[19]),
        cgroup=cgroup,
        cmdline=cmdline,
    )


def processes() -> dict[int, Proc]:
    table: dict[int, Proc] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            proc = read_proc(int(name))
            if proc is not None:
                table[proc.pid] = proc
    return table


def ours(proc: Proc, table: dict[int, Proc], baseline: set[tuple[int, int]]) -> bool:
    """Whether a sandbox-user process belongs to a match this process ran."""
    if f"devspark-{os.getpid()}-" in proc.cgroup:
        return True
    if SLEEPER_NAME in proc.cmdline and (proc.pid, proc.start) not in baseline:
        return True
    seen: set[int] = set()
    parent = proc.ppid
    while parent > 1 and parent not in seen:
        if parent == os.getpid():
            return True
        seen.add(parent)
        parent = table[parent].ppid if parent in table else 0
    return False


def pending_reap(proc: Proc) -> bool:
    """A zombie child of this process: dead, holding only a pid until the next reap.

    The launcher reaps adopted orphans when it closes an agent; an orphan that finishes
    dying just after that reap stays a zombie until the next close (about 1 match in 60
    here). That is reported as a finding, not counted as a survivor: it would make the
    suite flaky, and a zombie runs no code.
    """
    return proc.state.startswith("Z") and proc.ppid == os.getpid()


def find_survivors(uid: int, baseline: set[tuple[int, int]], grace: float = GRACE_S) -> list[Proc]:
    deadline = time.monotonic() + grace
    while True:
        table = processes()
        left = [
            p
            for p in table.values()
            if p.uid == uid and ours(p, table, baseline) and not pending_reap(p)
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def wait_until(condition: Callable[[], bool], *, what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {timeout:.0f} s")
        time.sleep(0.01)


def uid_baseline(uid: int) -> set[tuple[int, int]]:
    return {(p.pid, p.start) for p in processes().values() if p.uid == uid}


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """One hostile match at a time across processes (pytest-xdist): the canary is shared."""
    with Path(__file__).open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def plant_canary() -> None:
    CANARY_DIR.mkdir(exist_ok=True)
    CANARY_DIR.chmod(0o777)  # world-writable: only the sandbox's mount namespace guards it
    if not CANARY_FILE.is_file() or CANARY_FILE.read_bytes() != CANARY_CONTENT:
        CANARY_FILE.write_bytes(CANARY_CONTENT)
    CANARY_FILE.chmod(0o666)


@dataclass(frozen=True, slots=True)
class HostWatch:
    """The host as it was before hostile play, to compare with afterwards.

    Attributes:
        uid: The sandbox user's uid (agents run as it).
        runtime: The runtime folder (staged agents and SDK, state folders).
        opponent_state: A fair opponent's state folder, which no agent may touch.
        before: The files looked at, before.
        baseline: The sandbox user's processes before, as ``(pid, start)``.

    """

    uid: int
    runtime: Path
    opponent_state: Path
    before: HostView
    baseline: set[tuple[int, int]]

    @classmethod
    def start(cls, uid: int, runtime: Path, opponent_state: Path) -> HostWatch:
        """Look at the host now (stage what will be played first: staging writes)."""
        before = HostView.take(runtime, opponent_state)
        return cls(uid, runtime, opponent_state, before, uid_baseline(uid))

    def problems(self, canary: bytes, grace: float = GRACE_S) -> list[str]:
        """What hostile play changed: files, surviving processes, the canary, markers."""
        after = HostView.take(self.runtime, self.opponent_state)
        problems: list[str] = []
        survivors = find_survivors(self.uid, self.baseline, grace)
        if survivors:
            problems.append(
                f"processes survived: {[(p.pid, p.state, p.cmdline[:80]) for p in survivors]}"
            )
        problems += strict_changes(self.before.canary, after.canary)
        if CANARY_FILE.read_bytes() != canary:
            problems.append("canary file content changed")
        problems += runtime_changes(self.before.runtime, after.runtime, self.runtime, self.uid)
        problems += strict_changes(self.before.opponent_state, after.opponent_state)
        problems += src_changes(self.before.src, after.src, self.uid)
        problems += [f"marker file on the host: {path}" for path in markers()]
        return problems


def owned_by(uid: int, root: Path) -> list[Path]:
    """Files and folders under ``root`` that ``uid`` owns (an agent wrote them)."""
    return sorted(path for path, state in snapshot(root).items() if state.uid == uid)
