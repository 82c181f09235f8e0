"""Looks for other agents' staged code and state, and for the host's canary file.

Tries the runtime folder's well-known path, the host paths bubblewrap's command line
gives away (/proc/1/cmdline), ``..`` walks out of its mounts and /proc/1/root. A
listing that shows content-hash names, state keys or the runtime folder is a ``LEAK``.
"""

import itertools
import os
import re

RUNTIME = "/var/tmp/devspark-runtime"
CANARY_DIR = "/var/tmp/devspark-hostile-canary"
HOSTISH = re.compile(
    r"^([0-9a-f]{64}|[a-z0-9-]+-[0-9a-f]{16}|devspark-runtime|devspark-hostile-canary|canary\.txt)$"
)


def _err(exc):
    return f"{type(exc).__name__}({getattr(exc, 'errno', None)})"


def _host_paths():
    """Host folders named on bubblewrap's command line (pid 1 in this namespace)."""
    try:
        with open("/proc/1/cmdline", "rb") as handle:
            argv = handle.read().decode(errors="replace").split("\0")
    except OSError:
        return []
    found = []
    for flag, source in itertools.pairwise(argv):
        if flag in ("--bind", "--ro-bind") and source.startswith("/var/"):
            found += [source, os.path.dirname(source)]
    return found


def _list(path):
    try:
        names = os.listdir(path)
    except OSError as exc:
        return f"BLOCKED list {path} {_err(exc)}"
    hostish = sorted(name for name in names if HOSTISH.match(name))
    if hostish:
        return f"LEAK list {path} shows {hostish[:8]}"
    return f"INFO list {path} (sandbox view) {sorted(names)[:12]}"


def _read(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read(64)
    except OSError as exc:
        return f"BLOCKED read {path} {_err(exc)}"
    return f"LEAK read {path} {data[:32]!r}"


def _probe():
    folders = [
        RUNTIME,
        f"{RUNTIME}/state",
        f"{RUNTIME}/agents",
        f"{RUNTIME}/sdk",
        CANARY_DIR,
        "/agent/..",
        "/agent/../..",
        "/state/..",
        "/state/../..",
        "/sdk/../agents",
        "/proc/1/root/var/tmp",
        "/proc/1/cwd/..",
        "/proc/self/root/..",
    ]
    folders += _host_paths()
    lines = [_list(path) for path in dict.fromkeys(folders)]
    lines.append(_read(f"{CANARY_DIR}/canary.txt"))
    lines.append(_read(f"/proc/1/root{CANARY_DIR}/canary.txt"))
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
        context.log(f"DONE cross-agent-probe {len(_LINES)} checks")
    return context.legal_actions[0]
