"""Reads host secrets and lists host folders.

Verdicts: ``BLOCKED`` when the read failed, ``LEAK`` when host content came back,
``INFO`` for what the sandbox shows of itself (the listing of its own /).
"""

import os

FILES = [
    "/etc/shadow",
    "/etc/passwd",
    "/etc/hostname",
    "/root/.bashrc",
    "/root/.ssh/id_rsa",
    "/proc/1/root/etc/shadow",
    "/usr/../etc/shadow",
    "/agent/../etc/shadow",
    "/work/main/pyproject.toml",
]
FOLDERS = ["/root", "/home", "/etc", "/var", "/work", "/run", "/srv", "/opt", "/mnt"]
HOST_ONLY = {"etc", "home", "root", "var", "work", "run", "srv", "opt", "boot", "mnt", "media"}


def _err(exc):
    return f"{type(exc).__name__}({getattr(exc, 'errno', None)})"


def _read(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read(64)
    except OSError as exc:
        return f"BLOCKED read {path} {_err(exc)}"
    return f"LEAK read {path} {len(data)} bytes"


def _list(path):
    try:
        names = os.listdir(path)
    except OSError as exc:
        return f"BLOCKED list {path} {_err(exc)}"
    return f"LEAK list {path} {sorted(names)[:20]}"


def _root():
    names = sorted(os.listdir("/"))
    host = sorted(HOST_ONLY.intersection(names))
    if host:
        return f"LEAK list / shows host folders {host}"
    return f"INFO list / {names}"


def _probe():
    return [_read(path) for path in FILES] + [_list(path) for path in FOLDERS] + [_root()]


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
        context.log(f"DONE fs-read-probe {len(_LINES)} checks")
    return context.legal_actions[0]
