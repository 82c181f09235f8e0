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

The host checks live in ``host_checks.py`` (shared with the server-upload tests), which
says what counts as "ours" while other engineers run sandboxes concurrently.

Known containment bugs are ``xfail(strict=True)`` with the precise exception the bug
raises (``raises=``), so any *other* failure in those cases still fails the suite.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from host_checks import (
    CANARY_ENV,
    HostWatch,
    find_survivors,
    pending_reap,
    processes,
    read_proc,
    uid_baseline,
    wait_until,
)

from devspark.arena.agents import resolve_agent
from devspark.arena.match import MatchSpec, run_match
from devspark.core.manifest import load_manifest
from devspark.core.results import AgentResult, AgentStatus, MatchResult
from devspark.sandbox import IsolationLevel, staging, unavailable_reason
from devspark.sdk import SDK_DIR
from devspark.testing.hostile import (
    CANARY_FILE,
    CORPUS,
    HOSTILE_DIR,
    REDIS_CANARY_KEY,
    VERDICTS,
    HostileCase,
)

pytestmark = pytest.mark.security

OPPONENT = "builtin:random"
MATCH_BOUND_S = 5.0
SHUTDOWN_BOUND_S = 3.0
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


# --- fixtures -------------------------------------------------------------------------
def _skip_unless_runs(case: HostileCase) -> None:
    reason = unavailable_reason(IsolationLevel.SANDBOX, case.language)
    if reason is not None:
        pytest.skip(f"sandbox isolation is unavailable for {case.language}: {reason}")


@pytest.fixture(scope="module")
def host_baseline(sandbox_uid: int) -> dict[str, set[str]]:
    """This process's open fds before the corpus runs (checked by the last test)."""
    return {"fds": set(os.listdir("/proc/self/fd"))}


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
    watch = HostWatch.start(sandbox_uid, runtime, opponent_state)

    played = _play(case, seat)

    problems = watch.problems(canary)
    bound = SHUTDOWN_BOUND_S if case.name == "ignore-sigterm" else MATCH_BOUND_S
    if played.seconds > bound:
        problems.append(f"match took {played.seconds:.2f} s (bound {bound} s)")
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
    baseline = uid_baseline(sandbox_uid)
    argv = ["setpriv", f"--reuid={sandbox_uid}", f"--regid={gid}", "--clear-groups", "--"]
    child = subprocess.Popen([*argv, "/usr/bin/sleep", "30"])
    try:
        # setpriv switches user, then execs sleep: wait for the process to be the user's.
        wait_until(lambda: _runs_as(child.pid, sandbox_uid, "/usr/bin/sleep"), what="the exec")
        found = find_survivors(sandbox_uid, baseline, grace=0.0)
        assert child.pid in {p.pid for p in found}
    finally:
        child.kill()
        child.wait()
    assert find_survivors(sandbox_uid, baseline, grace=1.0) == []


def _runs_as(pid: int, uid: int, program: str) -> bool:
    proc = read_proc(pid)
    return proc is not None and proc.uid == uid and proc.cmdline.startswith(program)


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
        for p in processes().values()
        if p.ppid == os.getpid() and p.uid == sandbox_uid and not pending_reap(p)
    ]
    assert children == [], f"sandbox processes still attached to the host: {children}"
