"""Tries to leave its cgroup or lift its limits.

Writes its pid into the root cgroups (the usual escape), raises memory.limit_in_bytes
and pids.max, and mounts a fresh cgroup hierarchy. Verdicts: ``BLOCKED`` when refused,
``LEAK`` when it worked; ``INFO`` for what /proc/self/cgroup says (names only).
"""

import ctypes
import errno
import os

TARGETS = [
    ("/sys/fs/cgroup/cgroup.procs", "0"),
    ("/sys/fs/cgroup/memory/cgroup.procs", "0"),
    ("/sys/fs/cgroup/pids/cgroup.procs", "0"),
    ("/sys/fs/cgroup/unified/cgroup.procs", "0"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "-1"),
    ("/sys/fs/cgroup/pids/pids.max", "max"),
    ("/proc/1/root/sys/fs/cgroup/cgroup.procs", "0"),
]


def _name(value):
    return f"{errno.errorcode.get(value, 'E?')}({value})"


def _write(path, value):
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        return f"BLOCKED open {path} {_name(exc.errno)}"
    try:
        os.write(fd, value.encode())
        return f"LEAK wrote {value!r} to {path}"
    except OSError as exc:
        return f"BLOCKED write {path} {_name(exc.errno)}"
    finally:
        os.close(fd)


def _own_groups():
    with open("/proc/self/cgroup") as handle:
        entries = [line.strip().split(":", 2) for line in handle]
    return [
        f"INFO cgroup {controllers or 'v2'} -> {path}"
        for _, controllers, path in entries
        if controllers in ("memory", "pids", "")
    ]


def _mounts(libc):
    os.makedirs("/tmp/cg", exist_ok=True)
    lines = []
    for fstype, options in ((b"cgroup2", None), (b"cgroup", b"memory")):
        ctypes.set_errno(0)
        result = libc.mount(b"none", b"/tmp/cg", fstype, 0, options)
        label = f"mount {fstype.decode()}"
        lines.append(
            f"LEAK {label}" if result == 0 else f"BLOCKED {label} {_name(ctypes.get_errno())}"
        )
    return lines


def _probe():
    libc = ctypes.CDLL(None, use_errno=True)
    lines = _own_groups()
    lines += [_write(path, value) for path, value in TARGETS]
    lines += _mounts(libc)
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
        context.log(f"DONE cgroup-escape-probe {len(_LINES)} checks")
    return context.legal_actions[0]
