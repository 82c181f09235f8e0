"""The seccomp filter: its BPF program, and what it refuses inside a real sandbox.

The in-sandbox tests start one ``sandbox``-isolation agent (bubblewrap as the unprivileged
sandbox user, the filter loaded by ``bwrap --seccomp``) whose ``act`` makes raw syscalls
through ctypes ``syscall()`` and returns ``[result, errno]`` for each. Every name on the
filter's own deny lists (``ALWAYS_DENIED``, and ``NETWORK`` without a ``net:``
capability) gets a test, so a new denial is tested the day it is added. The arguments
are chosen so that without the filter the kernel answers something other than EPERM for
the families that matter (a bad fd, a bad pointer, an unknown command); a control run of
the same probe as the same unprivileged user on the host, without the filter, shows that
it is the filter that refused, not a missing privilege.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyseccomp as sc
import pytest

from devspark.arena.agents import resolve_agent
from devspark.core.results import AgentStatus
from devspark.sandbox import IsolationLevel, ProcessWorker, open_worker, seccomp
from devspark.sandbox.isolation import sandbox_user

BPF_INSTRUCTION_BYTES = 8
SYSTEM_PYTHON = "/usr/bin/python3"


def test_filter_bpf_is_a_non_empty_program() -> None:
    program = seccomp.filter_bpf(allow_network=False)
    assert isinstance(program, bytes)
    assert program
    assert len(program) % BPF_INSTRUCTION_BYTES == 0


def test_network_variant_differs_and_denies_less() -> None:
    closed = seccomp.filter_bpf(allow_network=False)
    opened = seccomp.filter_bpf(allow_network=True)
    assert opened
    assert opened != closed
    assert len(opened) < len(closed)


def test_filter_is_cached() -> None:
    assert seccomp.filter_bpf(allow_network=False) is seccomp.filter_bpf(allow_network=False)


def test_filter_fd_holds_the_program() -> None:
    fd = seccomp.filter_fd(allow_network=False)
    try:
        data = b""
        while chunk := os.read(fd, 1 << 16):
            data += chunk
    finally:
        os.close(fd)
    assert data == seccomp.filter_bpf(allow_network=False)


# --------------------------------------------------------------------------- in a sandbox

PROBE = '''
import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def probe(calls):
    """[name, result, errno] of each raw syscall [name, number, args]."""
    out = []
    for name, number, args in calls:
        ctypes.set_errno(0)
        result = _libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
        err = ctypes.get_errno() if result == -1 else 0
        if result >= 0 and name in ("socket", "userfaultfd"):  # a new fd: do not keep it
            os.close(result)
        out.append([name, result, err])
    return out


def act(observation, context):
    if "read" in observation:
        return read_file(observation["read"])
    return probe(observation["calls"])


def read_file(numbers):
    """getpid, then this agent's own file through raw openat, read and close."""
    path = ctypes.create_string_buffer(b"/agent/agent.py")
    buffer = ctypes.create_string_buffer(64)
    at_fdcwd = -100
    fd = _libc.syscall(numbers["openat"], at_fdcwd, path, os.O_RDONLY, 0)
    if fd < 0:
        return {"openat": ctypes.get_errno()}
    size = _libc.syscall(numbers["read"], fd, buffer, 64)
    _libc.syscall(numbers["close"], fd)
    head = buffer.raw[: max(size, 0)].decode()
    return {"pid": _libc.syscall(numbers["getpid"]), "os_pid": os.getpid(), "head": head}
'''

BAD_FD = -1
BAD_POINTER = 1  # an unmapped address: the kernel answers EFAULT where it copies from it
NO_SUCH_PID = 0x3FFFFFFF

# Arguments for which the kernel, without the filter, would not answer EPERM (a bad fd,
# pointer, pid or command), so that EPERM can only come from the filter. The rest get
# zeros: those calls check a privilege first, and the filter must refuse them anyway.
ARGS: dict[str, list[int]] = {
    "socket": [1, 1, 0],  # AF_UNIX, SOCK_STREAM: succeeds unfiltered
    "socketpair": [1, 1, 0, BAD_POINTER],
    "connect": [BAD_FD, 0, 0],
    "bind": [BAD_FD, 0, 0],
    "listen": [BAD_FD, 0],
    "accept": [BAD_FD, 0, 0],
    "accept4": [BAD_FD, 0, 0, 0],
    "ptrace": [2, NO_SUCH_PID, 0, 0],  # PTRACE_PEEKDATA on no process: ESRCH
    "pidfd_getfd": [BAD_FD, 0, 0],
    "process_vm_readv": [NO_SUCH_PID, 0, 0, 0, 0, 0],
    "process_vm_writev": [NO_SUCH_PID, 0, 0, 0, 0, 0],
    "mount": [BAD_POINTER, BAD_POINTER, BAD_POINTER, 0, 0],  # copies strings first: EFAULT
    "chroot": [BAD_POINTER],
    "keyctl": [0xFFFF, 0, 0, 0, 0],  # unknown command: EOPNOTSUPP
    "add_key": [BAD_POINTER, BAD_POINTER, 0, 0, 0],
    "request_key": [BAD_POINTER, BAD_POINTER, 0, 0],
    "perf_event_open": [BAD_POINTER, 0, -1, -1, 0],
    "userfaultfd": [1],  # UFFD_USER_MODE_ONLY: allowed to anyone unfiltered
    "unshare": [0],  # nothing to unshare: 0 unfiltered
    "setns": [BAD_FD, 0],
    "clock_settime": [0, BAD_POINTER],
    "clock_adjtime": [0, BAD_POINTER],
    "adjtimex": [BAD_POINTER],
    "name_to_handle_at": [BAD_FD, BAD_POINTER, BAD_POINTER, BAD_POINTER, 0],
    "io_uring_setup": [1, BAD_POINTER],
    "io_uring_enter": [BAD_FD, 0, 0, 0, 0, 0],
    "io_uring_register": [BAD_FD, 0, 0, 0],
    "personality": [0xFFFFFFFF],  # a query: the current persona, unfiltered
}

# The families the issue names: without the filter, each answers something else than
# EPERM to the same unprivileged user (bpf is left out: this kernel refuses BPF to
# unprivileged users by itself, kernel.unprivileged_bpf_disabled).
FILTER_PROVEN = (
    "socket",
    "connect",
    "ptrace",
    "pidfd_getfd",
    "mount",
    "keyctl",
    "io_uring_setup",
    "io_uring_enter",
    "unshare",
    "setns",
    "personality",
)

DENIED = seccomp.ALWAYS_DENIED + seccomp.NETWORK
ALLOWED_HERE = ("getpid", "openat", "read", "close")


def _number(name: str) -> int:
    return int(sc.resolve_syscall(sc.system_arch(), name))


def _calls(names: tuple[str, ...]) -> list[list[Any]]:
    return [[name, _number(name), ARGS.get(name, [0] * 6)] for name in names]


def _write_probe(folder: Path, *, capabilities: list[str]) -> Path:
    folder.mkdir(parents=True)
    manifest = {
        "name": folder.name,
        "version": "0.1.0",
        "language": "python",
        "entrypoint": "agent.py",
        "license": "MIT",
        "scenarios": ["tictactoe"],
        "capabilities": capabilities,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in manifest.items()]
    (folder / "agent.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "agent.py").write_text(PROBE, encoding="utf-8")
    return folder


def _ask(folder: Path, observation: dict[str, Any]) -> Any:
    """Start the agent at sandbox isolation, send one observation, return its action."""
    worker = open_worker(resolve_agent(str(folder)), IsolationLevel.SANDBOX, seed=1)
    assert isinstance(worker, ProcessWorker)
    try:
        worker.start()
        worker.reset(episode=0, scenario="tictactoe-v1", role="player_0", seed=1, config={})
        decision = worker.act(0, observation, None)
    finally:
        worker.close()
    assert decision.status is AgentStatus.OK, decision.detail
    return decision.action


def _by_name(results: list[list[Any]]) -> dict[str, tuple[int, int]]:
    return {name: (result, err) for name, result, err in results}


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("seccomp")
    yield {
        "closed": _write_probe(root / "probe-closed", capabilities=[]),
        "loopback": _write_probe(root / "probe-loopback", capabilities=["net:loopback"]),
    }


@pytest.fixture(scope="module")
def in_sandbox(probes: dict[str, Path]) -> dict[str, tuple[int, int]]:
    """Each denied syscall's ``(result, errno)`` inside the sandbox, without ``net:``."""
    return _by_name(_ask(probes["closed"], {"calls": _calls(DENIED)}))


@pytest.fixture(scope="module")
def unfiltered() -> dict[str, tuple[int, int]]:
    """The same probe as the sandbox user on the host, without bubblewrap or the filter."""
    user = sandbox_user()
    assert user is not None, "these tests run as root, with the sandbox user created"
    script = PROBE + "\nimport json, sys\nprint(json.dumps(probe(json.load(sys.stdin))))\n"
    setpriv = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups"]
    done = subprocess.run(
        [*setpriv, "--inh-caps=-all", "--", SYSTEM_PYTHON, "-I", "-c", script],
        input=json.dumps(_calls(FILTER_PROVEN)),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd="/",
    )
    return _by_name(json.loads(done.stdout))


@pytest.mark.integration
@pytest.mark.parametrize("name", DENIED)
def test_denied_syscall_is_refused_in_the_sandbox(
    in_sandbox: dict[str, tuple[int, int]], name: str
) -> None:
    assert _number(name) >= 0, f"{name} is unknown on this architecture"
    result, err = in_sandbox[name]
    assert (result, errno.errorcode.get(err, err)) == (-1, "EPERM")


@pytest.mark.integration
@pytest.mark.parametrize("name", FILTER_PROVEN)
def test_it_is_the_filter_that_refuses(
    in_sandbox: dict[str, tuple[int, int]], unfiltered: dict[str, tuple[int, int]], name: str
) -> None:
    result, err = unfiltered[name]
    assert err != errno.EPERM, f"{name} unfiltered: result {result}, errno {err}"
    assert in_sandbox[name] == (-1, errno.EPERM)


@pytest.mark.integration
def test_a_net_capability_allows_sockets_and_nothing_else(probes: dict[str, Path]) -> None:
    results = _by_name(_ask(probes["loopback"], {"calls": _calls(("socket", "ptrace", "bpf"))}))
    socket_fd, socket_err = results["socket"]
    assert socket_fd >= 0 and socket_err == 0  # an AF_UNIX socket, closed by the probe
    assert results["ptrace"] == (-1, errno.EPERM)
    assert results["bpf"] == (-1, errno.EPERM)


@pytest.mark.integration
def test_allowed_syscalls_work_in_the_sandbox(probes: dict[str, Path]) -> None:
    answer = _ask(probes["closed"], {"read": {name: _number(name) for name in ALLOWED_HERE}})
    assert answer["pid"] == answer["os_pid"] > 1  # getpid, in the agent's pid namespace
    assert answer["head"] == PROBE[:64]  # openat + read of its own /agent/agent.py
