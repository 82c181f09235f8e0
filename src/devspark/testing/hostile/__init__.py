"""The hostile-agent corpus: agents that attack the sandbox, the host and the protocol.

Each case is a folder ``HOSTILE_DIR/<name>/`` holding an ``agent.toml`` (tictactoe only,
short limits: ``move_ms = 200``, ``overage_ms = 300``, ``memory_mb = 128``) and an
``agent.py`` or ``agent.mjs`` that uses the standard library only. ``CORPUS`` lists them
with the statuses the host must give them; ``tests/security/test_hostile_corpus.py``
plays each one against ``builtin:random`` and checks that nothing escaped.

Probe agents (``probe=True``) try something, log one machine-checkable verdict per
attempt with ``context.log`` and then play legal moves. A verdict line starts with one
of :data:`VERDICTS`:

- ``BLOCKED <what> <error>``: the attempt failed, as it should;
- ``LEAK <what> <detail>``: the attempt got through; never acceptable;
- ``ALLOWED <what>``: worked, and is meant to (writing /tmp or /state);
- ``PRIVATE <what>``: worked, but only on a tmpfs private to the sandbox;
- ``INFO <what>``: an observation of the sandbox itself;
- ``ERROR <detail>``: the probe itself broke (a test failure, not a verdict);
- ``DONE <name> <n> checks``: the last line, so a truncated probe shows.

Hostile *service* agents live one level down, in ``SERVICE_DIR/<name>/`` (a ``[service]``
table handling ``hostile``; each one behaves for the payload ``"behave"``), and are
listed in ``SERVICE_CORPUS``; ``tests/security/test_hostile_services.py`` hands each one
a task and checks that the fault costs that task only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

HOSTILE_DIR = Path(__file__).resolve().parent
"""The folder holding one sub-folder per hostile agent."""

SERVICE_DIR = HOSTILE_DIR / "services"
"""The folder holding one sub-folder per hostile service agent."""

CANARY_DIR = Path("/var/tmp/devspark-hostile-canary")
"""A host folder the test plants (mode 0777) and the probes try to reach."""

CANARY_FILE = CANARY_DIR / "canary.txt"
"""A host file (mode 0666) inside ``CANARY_DIR``; it must never change."""

MARKER_NAME = "devspark-hostile-marker"
"""The file name write probes try to create; it must never appear on the host."""

REDIS_CANARY_KEY = "devspark:hostile:canary"
"""The key a socket probe writes if it ever reaches Redis."""

SLEEPER_NAME = "devspark-hostile-sleeper"
"""argv[0] of the process ``double-fork`` leaves behind, so the host can look for it."""

VERDICTS = ("BLOCKED", "LEAK", "ALLOWED", "PRIVATE", "INFO", "ERROR", "DONE")
"""The first word of every line a probe logs."""

Language = Literal["python", "javascript"]

_OK = frozenset({"ok"})
_TIMEOUT = frozenset({"timeout"})
_LIMIT = frozenset({"limit_exceeded"})
_LIMIT_OR_TIMEOUT = frozenset({"limit_exceeded", "timeout"})
_PROTOCOL = frozenset({"protocol_error"})
_CRASHED = frozenset({"crashed"})


@dataclass(frozen=True, slots=True)
class HostileCase:
    """One hostile agent and what the host must make of it.

    Attributes:
        name: the folder under ``HOSTILE_DIR`` (also the manifest name).
        language: ``python`` or ``javascript``.
        expected: the statuses (``AgentStatus`` values) the host may give the agent.
        attacks: what the agent attacks, in a few words.
        probe: whether it logs verdicts and then plays legal moves.
        service: whether it is a service agent (its folder is under ``SERVICE_DIR``).
    """

    name: str
    language: Language
    expected: frozenset[str]
    attacks: str
    probe: bool = False
    service: bool = False

    @property
    def folder(self) -> Path:
        """The agent's folder."""
        return (SERVICE_DIR if self.service else HOSTILE_DIR) / self.name

    @property
    def entrypoint(self) -> str:
        """``agent.py`` or ``agent.mjs``."""
        return "agent.py" if self.language == "python" else "agent.mjs"


def _case(
    name: str,
    expected: frozenset[str],
    attacks: str,
    *,
    js: bool = False,
    probe: bool = False,
) -> HostileCase:
    return HostileCase(name, "javascript" if js else "python", expected, attacks, probe)


CORPUS: list[HostileCase] = [
    # --- CPU and time ------------------------------------------------------------------
    _case("busy-loop", _TIMEOUT, "CPU: spins forever in act"),
    _case("busy-loop-js", _TIMEOUT, "CPU: spins forever in act", js=True),
    _case("sleep-past-deadline", _TIMEOUT, "time: sleeps an hour in act"),
    _case("self-stop", _TIMEOUT, "time: SIGSTOPs itself in act"),
    _case("import-hang", _TIMEOUT, "time: hangs at import (start_ms = 1000)"),
    # --- memory, processes, files --------------------------------------------------------
    _case("memory-bomb", _LIMIT, "memory: touched 8 MiB blocks until the memory cgroup"),
    _case("memory-bomb-virtual", _LIMIT, "memory: untouched 64 MiB blocks until RLIMIT_AS"),
    _case("memory-bomb-js", _LIMIT, "memory: V8 heap until it dies", js=True),
    _case("fork-bomb", _LIMIT_OR_TIMEOUT, "pids: forks without end"),
    _case("thread-bomb", _LIMIT_OR_TIMEOUT, "pids: threads without end"),
    _case("tmp-fill", _LIMIT, "disk: fills /tmp until ENOSPC"),
    _case("state-fill", _LIMIT, "disk: one /state file until EFBIG"),
    _case("shm-fill", _LIMIT, "memory: fills the unsized /dev/shm tmpfs"),
    _case("fd-exhaustion", _LIMIT, "fds: opens /dev/null until EMFILE"),
    _case("state-quota", _OK, "disk: many files in /state, over 128 MiB in all", probe=True),
    # --- network -------------------------------------------------------------------------
    _case("net-probe", _OK, "network: TCP/UDP/raw/netlink/unix sockets", probe=True),
    _case("net-probe-js", _OK, "network: node:net and node:dgram", js=True, probe=True),
    # --- filesystem ----------------------------------------------------------------------
    _case("fs-read-probe", _OK, "files: /etc/shadow, /root, /home, listing /", probe=True),
    _case("cross-agent-probe", _OK, "files: other agents' staged code and state", probe=True),
    _case("fs-write-probe", _OK, "files: writes outside /tmp and /state", probe=True),
    _case("fs-probe-js", _OK, "files: node fs, child_process, env", js=True, probe=True),
    # --- processes, kernel, privileges ---------------------------------------------------
    _case("ptrace-probe", _OK, "processes: ptrace, process_vm_readv, pidfd_getfd", probe=True),
    _case("proc-snoop", _OK, "processes: /proc pids, cmdlines, environments", probe=True),
    _case("env-leak", _OK, "environment: logs every variable", probe=True),
    _case("privesc-probe", _OK, "privileges: setuid, namespaces, ABIs, TIOCSTI", probe=True),
    _case("cgroup-escape-probe", _OK, "cgroups: leave the group, lift limits", probe=True),
    _case("kill-parent", frozenset({"ok", "crashed"}), "signals: kill ppid, kill(-1)", probe=True),
    _case("double-fork", _OK, "processes: leaves a daemonised grandchild"),
    _case("background-hog", _OK, "CPU: leaves 8 busy daemons, plays fast"),
    _case("ignore-sigterm", _OK, "shutdown: ignores SIGTERM and hangs in on_result/atexit"),
    # --- protocol ------------------------------------------------------------------------
    _case("stdout-flood", _PROTOCOL, "protocol: endless non-JSON text on the protocol fd"),
    _case("log-flood", _PROTOCOL, "protocol: endless valid log lines (8 MiB cap)"),
    _case("stderr-flood", _TIMEOUT, "protocol: endless stderr (64 KiB capture)"),
    _case("garbage-json", _PROTOCOL, "protocol: malformed JSON line"),
    _case("huge-publish", _OK, "protocol: a 10 MiB publish line (refused, the match goes on)"),
    _case("garbage-json-js", _PROTOCOL, "protocol: malformed JSON line on fd 1", js=True),
    _case("huge-line", _PROTOCOL, "protocol: one 10 MiB line"),
    _case("deep-json", _PROTOCOL, "protocol: JSON nested 400,000 deep (RecursionError)"),
    _case("wrong-step", _PROTOCOL, "protocol: action for another step"),
    _case("close-protocol-fd", frozenset({"crashed", "timeout"}), "protocol: closes its output"),
    _case("exit-second-move", _CRASHED, "lifecycle: os._exit(3) at its second move"),
    _case("exit-second-move-js", _CRASHED, "lifecycle: process.exit(3) at move 2", js=True),
    _case("import-crash", _CRASHED, "lifecycle: raises at import"),
    # --- plain faults --------------------------------------------------------------------
    _case("invalid-action", frozenset({"invalid_action"}), "rules: returns action 42"),
    _case("raise-in-act", frozenset({"error"}), "faults: raises in act"),
]
"""Every hostile agent, in the order the security suite plays them."""

SERVICE_CORPUS: list[HostileCase] = [
    HostileCase(
        "progress-flood",
        "python",
        frozenset({"protocol_error", "timeout"}),
        "tasks: valid progress lines without end",
        service=True,
    ),
    HostileCase(
        "garbage-result",
        "python",
        _PROTOCOL,
        "tasks: a task_result line that is not JSON",
        service=True,
    ),
    HostileCase("silent-task", "python", _TIMEOUT, "tasks: never answers", service=True),
    HostileCase(
        "request-flood",
        "python",
        frozenset({"timeout", "protocol_error"}),
        "tasks: request lines without end, answers never read",
        service=True,
    ),
    HostileCase(
        "request-flood-js",
        "javascript",
        frozenset({"timeout", "protocol_error"}),
        "tasks: request lines without end, answers never read",
        service=True,
    ),
]
"""Every hostile service agent, with the statuses its task must end with."""

__all__ = [
    "CANARY_DIR",
    "CANARY_FILE",
    "CORPUS",
    "HOSTILE_DIR",
    "MARKER_NAME",
    "REDIS_CANARY_KEY",
    "SERVICE_CORPUS",
    "SERVICE_DIR",
    "SLEEPER_NAME",
    "VERDICTS",
    "HostileCase",
]
