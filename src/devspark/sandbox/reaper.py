"""Child-subreaper support: orphans of sandboxes are reparented to us and reaped here."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os

_PR_SET_CHILD_SUBREAPER = 36
_known: set[int] = set()


@functools.cache
def become_subreaper() -> bool:
    """Mark this process a child subreaper (idempotent). Returns whether it worked."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def track(pid: int) -> None:
    """Register a direct child that its owner (a ``Popen``) will wait for itself."""
    _known.add(pid)


def untrack(pid: int) -> None:
    """Forget a direct child once its owner has waited for it."""
    _known.discard(pid)


def _children() -> list[int]:
    pids: list[int] = []
    pid = os.getpid()
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):  # noqa: PTH208 - hot path, plain strings
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:  # noqa: PTH123
                pids.extend(int(p) for p in handle.read().split())
    return pids


def reap_orphans() -> int:
    """Reap exited children that no ``Popen`` owns (adopted orphans). Returns how many."""
    reaped = 0
    for pid in _children():
        if pid in _known:
            continue
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                reaped += 1
    return reaped
