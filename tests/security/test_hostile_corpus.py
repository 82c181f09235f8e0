"""The hostile-agent corpus against the default (sandbox) isolation.

Every case of ``devspark.testing.hostile.CORPUS`` plays one tictactoe match against
``builtin:random``. Whatever the hostile agent does, the match must return (never raise)
in bounded time with the hostile's status in its expected set and the opponent ``ok``,
and afterwards:

- no probe logged a ``LEAK`` verdict;
- a canary environment variable of this process appears nowhere in logs or stderr;
- the host's files are unchanged: a canary file planted in /var/tmp, the staged copies
  of agents and the SDK in the runtime folder, the opponent's state folder and the
  repository's ``src/``;
  no ``devspark-hostile-marker`` file appeared in the host folders write probes aim at;
- no process of the sandbox user that this match started survives (2 s grace);
- socket probes never reached Redis (connection count and a canary key).

Other engineers run sandboxes and edit files concurrently, so "ours" is defined
narrowly: a surviving process counts when it descends from this process (the launcher
is a child subreaper, so escaped orphans come back to it), sits in one of this process's
cgroups, or carries the sleeper's name; a changed file outside the corpus and the
built-in agents counts when the sandbox user owns it or it holds the marker text.

Known containment bugs are ``xfail(strict=True)`` with the precise exception the bug
raises (``raises=``), so any *other* failure in those cases still fails the suite.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devspark.arena.agents import resolve_agent
from devspark.arena.match import MatchSpec, run_match
from devspark.core.manifest import load_manifest
from devspark.core.results import AgentResult, AgentStatus, MatchResult
from devspark.sandbox import IsolationLevel, staging, unavailable_reason
from devspark.sandbox.isolation import SANDBOX_USER
from devspark.sdk import SDK_DIR
from devspark.testing.hostile import (
    CANARY_DIR,
    CANARY_FILE,
    CORPUS,
    HOSTILE_DIR,
    MARKER_NAME,
    REDIS_CANARY_KEY,
    SLEEPER_NAME,
    VERDICTS,
    HostileCase,
)

pytestmark = pytest.mark.security

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
STRICT_SRC = (HOSTILE_DIR, SRC / "devspark" / "agents")
MARKER_TEXT = b"devspark hostile marker"
OPPONENT = "builtin:random"
MATCH_BOUND_S = 5.0
SHUTDOWN_BOUND_S = 3.0
GRACE_S = 2.0
CANARY_ENV = "DEVSPARK_CANARY_SECRET"
CANARY_CONTENT = b"devspark hostile canary: agents must never read or change this\n"
SEAT_TWO = {
    "busy-loop",
    "memory-bomb-js",
    "fork-bomb",
    "exit-second-move",
    "kill-parent",
    "double-fork",
    "net-probe",
    "ignore-sigterm",
    "garbage-json",
}
SOCKET_PROBES = [case for case in CORPUS if case.name in ("net-probe", "net-probe-js")]
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


# --- failures, one kind per check, so xfail(raises=...) names exactly one bug -----------
class ContainmentError(AssertionError):
    """Base of the per-check failures below."""


class StatusMismatchError(ContainmentError):
    """The hostile agent's status is not one of its expected statuses."""


class LeakLoggedError(ContainmentError):
    """A probe logged a LEAK verdict."""


class MatchRaisedError(ContainmentError):
    """run_match raised instead of recording the agent's fault."""


KNOWN_BUGS: dict[str, tuple[type[ContainmentError], str]] = {}


# --- host observations ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FileState:
    """What we compare of one host file."""

    size: int
    mtime_ns: int
    mode: int
    uid: int
    digest: str


def _file_state(path: Path) -> FileState | None:
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


def _snapshot(root: Path, *, skip: tuple[Path, ...] = ()) -> dict[Path, FileState]:
    found: dict[Path, FileState] = {}
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d not in skip and d != "__pycache__"]
        for name in [*names, *dirs]:
            state = _file_state(here / name)
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
            canary=_snapshot(CANARY_DIR),
            runtime=_snapshot(runtime, skip=(runtime / "state",)),
            opponent_state=_snapshot(opponent_state),
            src=_snapshot(SRC),
        )


def _strict_changes(before: dict[Path, FileState], after: dict[Path, FileState]) -> list[str]:
    changes = [f"changed {p}" for p, s in before.items() if p in after and after[p] != s]
    changes += [f"removed {p}" for p in before if p not in after]
    changes += [f"created {p}" for p in after if p not in before]
    return changes


def _suspect(path: Path, state: FileState, uid: int) -> bool:
    """Whether a changed file outside the strictly checked trees looks like the agent's."""
    if state.uid == uid:
        return True
    with contextlib.suppress(OSError):
        return bool(state.digest) and MARKER_TEXT in path.read_bytes()
    return False


def _runtime_changes(
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
        elif after[path] != state and (
            (inside and not scratch) or _suspect(path, after[path], uid)
        ):
            changes.append(f"changed {path}")
    for path, state in after.items():
        if path in before:
            continue
        inside, scratch = staged(path)
        parts = path.relative_to(runtime).parts
        hashed = len(parts) >= 2 and bool(_HEX64.match(parts[1]))
        if state.uid == uid or (inside and not (hashed or scratch)) or _suspect(path, state, uid):
            changes.append(f"created {path} (uid {state.uid})")
    return changes


def _strict(path: Path) -> bool:
    return any(path.is_relative_to(root) for root in STRICT_SRC)


def _src_changes(
    before: dict[Path, FileState], after: dict[Path, FileState], uid: int
) -> list[str]:
    strict_b = {p: s for p, s in before.items() if _strict(p)}
    strict_a = {p: s for p, s in after.items() if _strict(p)}
    changes = _strict_changes(strict_b, strict_a)
    for path, state in after.items():
        if not _strict(path) and before.get(path) != state and _suspect(path, state, uid):
            changes.append(f"{'changed' if path in before else 'created'} {path}")
    return changes


def _markers() -> list[Path]:
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


def _read_proc(pid: int) -> Proc | None:
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


def _processes() -> dict[int, Proc]:
    table: dict[int, Proc] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            proc = _read_proc(int(name))
            if proc is not None:
                table[proc.pid] = proc
    return table


def _ours(proc: Proc, table: dict[int, Proc], baseline: set[tuple[int, int]]) -> bool:
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


def _pending_reap(proc: Proc) -> bool:
    """A zombie child of this process: dead, holding only a pid until the next reap.

    The launcher reaps adopted orphans when it closes an agent; an orphan that finishes
    dying just after that reap stays a zombie until the next close (about 1 match in 60
    here). That is reported as a finding, not counted as a survivor: it would make the
    suite flaky, and a zombie runs no code.
    """
    return proc.state.startswith("Z") and proc.ppid == os.getpid()


def _survivors(uid: int, baseline: set[tuple[int, int]], grace: float = GRACE_S) -> list[Proc]:
    deadline = time.monotonic() + grace
    while True:
        table = _processes()
        left = [
            p
            for p in table.values()
            if p.uid == uid and _ours(p, table, baseline) and not _pending_reap(p)
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _uid_baseline(uid: int) -> set[tuple[int, int]]:
    return {(p.pid, p.start) for p in _processes().values() if p.uid == uid}


# --- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox_uid() -> int:
    reason = unavailable_reason(IsolationLevel.SANDBOX, "python")
    if reason is not None:
        pytest.skip(f"sandbox isolation is unavailable here: {reason}")
    # As root the launcher drops to the sandbox user; otherwise agents run as us.
    return pwd.getpwnam(SANDBOX_USER).pw_uid if os.geteuid() == 0 else os.getuid()


def _skip_unless_runs(case: HostileCase) -> None:
    reason = unavailable_reason(IsolationLevel.SANDBOX, case.language)
    if reason is not None:
        pytest.skip(f"sandbox isolation is unavailable for {case.language}: {reason}")


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """One hostile match at a time across processes (pytest-xdist): the canary is shared."""
    with Path(__file__).open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _plant_canary() -> None:
    CANARY_DIR.mkdir(exist_ok=True)
    CANARY_DIR.chmod(0o777)  # world-writable: only the sandbox's mount namespace guards it
    if not CANARY_FILE.is_file() or CANARY_FILE.read_bytes() != CANARY_CONTENT:
        CANARY_FILE.write_bytes(CANARY_CONTENT)
    CANARY_FILE.chmod(0o666)


@pytest.fixture(scope="module", autouse=True)
def _remove_canary_at_end() -> Iterator[None]:
    yield
    with _exclusive():
        CANARY_FILE.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            CANARY_DIR.rmdir()


@pytest.fixture
def canary() -> Iterator[bytes]:
    """The planted canary, held exclusively for the test."""
    with _exclusive():
        _plant_canary()
        yield CANARY_CONTENT


@pytest.fixture(scope="module")
def host_baseline(sandbox_uid: int) -> dict[str, set[str]]:
    """This process's open fds before the corpus runs (checked by the last test)."""
    return {"fds": set(os.listdir("/proc/self/fd"))}


@pytest.fixture
def canary_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A host environment variable that must never reach an agent."""
    value = "canary-" + secrets.token_hex(16)
    monkeypatch.setenv(CANARY_ENV, value)
    return value


# --- the corpus -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Played:
    """One match of a hostile agent: its record (or what it raised) and how long it took."""

    result: MatchResult | None
    raised: Exception | None
    seconds: float
    seat: int

    @property
    def hostile(self) -> AgentResult:
        assert self.result is not None
        return self.result.agents[self.seat - 1]

    @property
    def opponent(self) -> AgentResult:
        assert self.result is not None
        return self.result.agents[2 - self.seat]


def _play(case: HostileCase, seat: int) -> Played:
    agents = (str(case.folder), OPPONENT) if seat == 1 else (OPPONENT, str(case.folder))
    started = time.monotonic()
    try:
        result, raised = run_match(MatchSpec("tictactoe", agents, seed=1)), None
    except Exception as exc:  # nothing an agent does may raise out of a match: checked below
        result, raised = None, exc
    return Played(result, raised, time.monotonic() - started, seat)


def _params() -> list[object]:
    params: list[object] = []
    for case in CORPUS:
        for seat in (1, 2) if case.name in SEAT_TWO else (1,):
            marks = []
            if case.name in KNOWN_BUGS:
                kind, reason = KNOWN_BUGS[case.name]
                marks.append(pytest.mark.xfail(reason=reason, strict=True, raises=kind))
            params.append(pytest.param(case, seat, id=f"{case.name}-seat{seat}", marks=marks))
    return params


def _probe_problems(case: HostileCase, logs: list[str]) -> tuple[list[str], list[str]]:
    """(leaks, malformed) of a hostile's log lines."""
    leaks = [line for line in logs if line.startswith("LEAK")]
    malformed = []
    if case.probe:
        if not logs or not logs[-1].startswith("DONE"):
            malformed.append(f"probe did not finish (no DONE line): {logs[-3:]}")
        malformed += [f"probe error: {line}" for line in logs if line.startswith("ERROR")]
        malformed += [
            f"not a verdict: {line[:120]}" for line in logs if line.split(" ")[0] not in VERDICTS
        ]
    return leaks, malformed


@pytest.mark.parametrize(("case", "seat"), _params())
def test_hostile_agent_is_contained(
    case: HostileCase,
    seat: int,
    sandbox_uid: int,
    canary: bytes,
    canary_secret: str,
    host_baseline: object,
) -> None:
    _skip_unless_runs(case)
    runtime = staging.runtime_dir()
    for folder, kind in ((case.folder, "agents"), (SDK_DIR, "sdk")):
        staging.stage(folder, kind=kind)  # stage first, so the runtime snapshot is stable
    opponent = resolve_agent(OPPONENT)
    opponent_state = runtime / "state" / f"{opponent.manifest.name}-{opponent.sha256[:16]}"
    before = HostView.take(runtime, opponent_state)
    baseline = _uid_baseline(sandbox_uid)

    played = _play(case, seat)

    after = HostView.take(runtime, opponent_state)
    survivors = _survivors(sandbox_uid, baseline)
    problems: list[str] = []
    bound = SHUTDOWN_BOUND_S if case.name == "ignore-sigterm" else MATCH_BOUND_S
    if played.seconds > bound:
        problems.append(f"match took {played.seconds:.2f} s (bound {bound} s)")
    if survivors:
        problems.append(
            f"processes survived: {[(p.pid, p.state, p.cmdline[:80]) for p in survivors]}"
        )
    problems += _strict_changes(before.canary, after.canary)
    if CANARY_FILE.read_bytes() != canary:
        problems.append("canary file content changed")
    problems += _runtime_changes(before.runtime, after.runtime, runtime, sandbox_uid)
    problems += _strict_changes(before.opponent_state, after.opponent_state)
    problems += _src_changes(before.src, after.src, sandbox_uid)
    problems += [f"marker file on the host: {path}" for path in _markers()]
    _judge(case, played, problems, canary_secret)


def _judge(case: HostileCase, played: Played, problems: list[str], secret: str) -> None:
    """Fail on any host problem; else raise the one kind of failure the record shows.

    The order matters for ``xfail(raises=...)``: a known bug's exception is raised only
    when every other check passed.
    """
    where = f"{case.name} (seat {played.seat})"
    leaks: list[str] = []
    mismatch = ""
    if played.result is not None:
        if played.opponent.status != "ok":
            problems.append(f"opponent {played.opponent.status}: {played.opponent.detail[:200]}")
        if secret in repr(played.result.to_dict()):
            problems.append(f"host environment variable {CANARY_ENV} reached the match record")
        leaks, malformed = _probe_problems(case, played.hostile.logs)
        problems += malformed
        status = str(played.hostile.status)
        if status not in case.expected:
            mismatch = (
                f"status {status} not in {sorted(case.expected)}; "
                f"detail: {played.hostile.detail[:300]!r}"
            )
    if problems:
        extra = [f"LEAK verdicts: {leaks}"] if leaks else []
        extra += [mismatch] if mismatch else []
        extra += [f"run_match raised {played.raised!r}"] if played.raised else []
        pytest.fail(f"{where}:\n  " + "\n  ".join(problems + extra))
    if played.raised is not None:
        raise MatchRaisedError(f"{where}: run_match raised {played.raised!r}")
    if leaks:
        raise LeakLoggedError(f"{where} logged: " + "; ".join(leaks))
    if mismatch:
        raise StatusMismatchError(f"{where}: {mismatch}")


def test_corpus_lists_every_folder_with_short_limits() -> None:
    """CORPUS and the folders agree; every manifest is tictactoe-only with short limits."""
    folders = sorted(p.parent.name for p in HOSTILE_DIR.glob("*/agent.toml"))
    assert folders == sorted(case.name for case in CORPUS)
    assert len(CORPUS) >= 26
    for case in CORPUS:
        manifest = load_manifest(case.folder)
        assert manifest.name == case.name
        assert manifest.language == case.language
        assert manifest.entrypoint == case.entrypoint
        assert (case.folder / case.entrypoint).is_file()
        assert manifest.scenarios == ["tictactoe"]
        limits = manifest.limits
        assert (limits.move_ms, limits.overage_ms, limits.memory_mb) == (200, 300, 128)
        assert case.expected <= {str(status) for status in AgentStatus}, case.name


def test_probes_report_leaks_without_a_sandbox(canary: bytes, canary_secret: str) -> None:
    """The verdicts are not vacuous: at ``trusted`` (no isolation) the same probes leak."""
    expected = {
        "env-leak": f"LEAK env {CANARY_ENV}={canary_secret}",
        "fs-read-probe": "LEAK read /etc/passwd",
        "cross-agent-probe": f"LEAK read {CANARY_FILE}",
    }
    for name, leak in expected.items():
        folder = HOSTILE_DIR / name
        spec = MatchSpec(
            "tictactoe", (str(folder), OPPONENT), seed=1, isolation=IsolationLevel.TRUSTED
        )
        logs = run_match(spec).agents[0].logs
        assert any(line.startswith(leak) for line in logs), f"{name} at trusted: {logs}"


def test_survivor_scan_sees_a_leftover_sandbox_process(sandbox_uid: int) -> None:
    """The process check is not vacuous: a sandbox-user child of this process is caught."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start a process as the sandbox user")
    gid = pwd.getpwuid(sandbox_uid).pw_gid
    baseline = _uid_baseline(sandbox_uid)
    argv = ["setpriv", f"--reuid={sandbox_uid}", f"--regid={gid}", "--clear-groups", "--"]
    child = subprocess.Popen([*argv, "/usr/bin/sleep", "30"])
    try:
        time.sleep(0.05)
        found = _survivors(sandbox_uid, baseline, grace=0.0)
        assert child.pid in {p.pid for p in found}
    finally:
        child.kill()
        child.wait()
    assert _survivors(sandbox_uid, baseline, grace=1.0) == []


@pytest.mark.parametrize("case", SOCKET_PROBES, ids=lambda case: case.name)
def test_socket_probes_never_reach_redis(
    case: HostileCase, sandbox_uid: int, canary: bytes
) -> None:
    """Redis, checked from its side: no connection while the probe ran, no canary key.

    Redis is shared, so a connection from someone else's test may land in the window;
    a real leak repeats on every run, so the count must be flat in one of three runs.
    """
    _skip_unless_runs(case)
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        pytest.skip(f"Redis is not running on 127.0.0.1:6379 ({exc}); CI provides it")
    deltas = []
    try:
        client.delete(REDIS_CANARY_KEY)
        for _ in range(3):
            # Our client keeps its one pooled connection, opened by ping() above.
            before = int(client.info("stats")["total_connections_received"])
            played = _play(case, 1)
            deltas.append(int(client.info("stats")["total_connections_received"]) - before)
            assert client.exists(REDIS_CANARY_KEY) == 0, f"{case.name} wrote into Redis"
            assert played.raised is None, f"run_match raised {played.raised!r}"
            assert played.hostile.status == "ok", played.hostile.detail
            if deltas[-1] == 0:
                break
    finally:
        client.close()
    assert deltas[-1] == 0, f"Redis accepted connections during every {case.name} run: {deltas}"


def test_host_unaffected_after_corpus(sandbox_uid: int, host_baseline: dict[str, set[str]]) -> None:
    """After every hostile agent: a normal match still works, and the host leaked nothing."""
    result = run_match(MatchSpec("tictactoe", (OPPONENT, "builtin:random-js"), seed=3))
    assert [str(a.status) for a in result.agents] == ["ok", "ok"], result.to_dict()
    assert sum(a.moves for a in result.agents) >= 5
    fds = set(os.listdir("/proc/self/fd"))
    assert fds - host_baseline["fds"] == set(), "the host process leaked file descriptors"
    cgroups = [
        path for path in Path("/sys/fs/cgroup").glob(f"*/devspark-{os.getpid()}-*") if path.is_dir()
    ]
    assert cgroups == [], f"cgroups left behind: {cgroups}"
    children = [
        p
        for p in _processes().values()
        if p.ppid == os.getpid() and p.uid == sandbox_uid and not _pending_reap(p)
    ]
    assert children == [], f"sandbox processes still attached to the host: {children}"
