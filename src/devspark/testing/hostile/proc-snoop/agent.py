"""Snoops through /proc: which processes it can see, their command lines, environments.

Verdicts: ``LEAK`` for a process that is not its own uid (a host process showing
through), for any pid beyond the sandbox's own, or for an environment variable other
than the sandbox's PATH/HOME/LANG; ``INFO`` for what the sandbox shows of itself.
"""

import os
import time

SANDBOX_ENV = {"PATH", "HOME", "LANG"}


def _err(exc):
    return f"{type(exc).__name__}({getattr(exc, 'errno', None)})"


def _uid(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return -1


def _visible():
    return sorted(int(name) for name in os.listdir("/proc") if name.isdigit())


def _scan():
    """Pids 1..65535 one by one, not only what the listing shows (bounded to 1.5 s).

    The host's pid_max is 32768 by default; inside the namespace pid_max may read
    4194304, too many to stat within the start budget.
    """
    found = []
    deadline = time.monotonic() + 1.5
    for pid in range(1, 65536):
        if os.path.exists(f"/proc/{pid}"):
            found.append(pid)
        if pid % 4096 == 0 and time.monotonic() > deadline:
            break
    return found


def _probe():
    own_uid = os.getuid()
    pids = _visible()
    lines = [f"INFO visible pids {pids[:20]}"]
    for pid in pids:
        try:
            uid = _uid(pid)
        except OSError:
            continue
        if uid != own_uid:
            lines.append(f"LEAK pid {pid} belongs to uid {uid}")
    scanned = _scan()
    hidden = sorted(set(scanned) - set(pids))
    if hidden:
        lines.append(f"LEAK pid scan found pids the listing hides {hidden[:10]}")
    else:
        lines.append(f"BLOCKED pid scan 1..65535 found only the sandbox's {scanned}")
    for name in ("cmdline", "environ"):
        try:
            with open(f"/proc/1/{name}", "rb") as handle:
                data = handle.read()
        except OSError as exc:
            lines.append(f"BLOCKED read /proc/1/{name} {_err(exc)}")
            continue
        if name == "cmdline":
            lines.append(f"INFO /proc/1/cmdline {data[:120]!r}")
            continue
        keys = sorted(item.split(b"=", 1)[0].decode() for item in data.split(b"\0") if item)
        leaked = sorted(set(keys) - SANDBOX_ENV)
        lines.append(
            f"LEAK /proc/1/environ has {leaked}" if leaked else f"INFO /proc/1/environ keys {keys}"
        )
    for path in ("/proc/1/root", "/proc/1/cwd"):
        try:
            lines.append(f"INFO {path} -> {os.readlink(path)}")
        except OSError as exc:
            lines.append(f"BLOCKED readlink {path} {_err(exc)}")
    try:
        os.listdir("/sys")
        lines.append("LEAK /sys is mounted")
    except OSError as exc:
        lines.append(f"BLOCKED list /sys {_err(exc)}")
    return lines


try:
    _LINES = _probe()
except Exception as exc:
    _LINES = [f"ERROR probe failed {exc!r}"]
_logged = False


def act(observation, context):
    global _logged
    if not _logged:
        _logged = True
        for line in _LINES:
            context.log(line)
        context.log(f"DONE proc-snoop {len(_LINES)} checks")
    return context.legal_actions[0]
