"""Creates a marker file in folders outside /tmp and /state, and tampers with files.

A write that succeeded is judged by where it landed (from /proc/self/mountinfo):
``ALLOWED`` in /tmp or /state, ``PRIVATE`` on another tmpfs of the sandbox (its root
and /dev, which vanish with it), ``LEAK`` on anything else. The host also checks that no
file named devspark-hostile-marker appeared in its own folders.
"""

import os

MARKER = "devspark-hostile-marker"
CANARY_DIR = "/var/tmp/devspark-hostile-canary"
FOLDERS = [
    "/usr",
    "/usr/bin",
    "/usr/local",
    "/agent",
    "/sdk",
    "/etc",
    "/var/tmp",
    "/var/tmp/devspark-runtime",
    CANARY_DIR,
    "/",
    "/dev",
    "/proc/1/root",
    "/tmp",
    "/state",
]
TAMPER = [
    "/agent/agent.py",
    "/agent/agent.toml",
    "/sdk/runner.py",
    "/usr/bin/python3",
    f"{CANARY_DIR}/canary.txt",
    "/proc/sys/kernel/core_pattern",
    "/proc/sysrq-trigger",
    "/proc/sys/vm/drop_caches",
]


def _err(exc):
    return f"{type(exc).__name__}({getattr(exc, 'errno', None)})"


def _mounts():
    table = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            point = fields[4]
            fstype = fields[fields.index("-") + 1]
            table.append((point, fstype))
    return table


def _landing(path, table):
    real = os.path.realpath(path)
    best = ("/", "?")
    for point, fstype in table:
        if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(
            best[0]
        ):
            best = (point, fstype)
    return best


def _write(folder, table):
    path = os.path.join(folder, MARKER)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        fd = None
    except OSError as exc:
        return f"BLOCKED write {path} {_err(exc)}"
    if fd is not None:
        os.write(fd, b"devspark hostile marker\n")
        os.close(fd)
    point, fstype = _landing(path, table)
    try:
        os.unlink(path)
    except OSError:
        pass
    if point in ("/tmp", "/state"):
        return f"ALLOWED write {path} ({fstype} {point})"
    if fstype == "tmpfs":
        return f"PRIVATE write {path} (sandbox tmpfs {point}, gone with the sandbox)"
    return f"LEAK write {path} landed on {fstype} {point}"


def _tamper(path):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as exc:
        return f"BLOCKED open-for-write {path} {_err(exc)}"
    os.close(fd)  # nothing is written: opening is proof enough
    return f"LEAK open-for-write {path}"


def _chmod(path):
    try:
        os.chmod(path, 0o777)
    except OSError as exc:
        return f"BLOCKED chmod {path} {_err(exc)}"
    return f"LEAK chmod {path}"


def _probe():
    table = _mounts()
    lines = [_write(folder, table) for folder in FOLDERS]
    lines += [_tamper(path) for path in TAMPER]
    lines += [_chmod("/agent/agent.py"), _chmod("/sdk/runner.py")]
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
        context.log(f"DONE fs-write-probe {len(_LINES)} checks")
    return context.legal_actions[0]
