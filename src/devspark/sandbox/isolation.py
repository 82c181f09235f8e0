"""The checks that tell whether each isolation level can run here.

:class:`~devspark.core.isolation.IsolationLevel` itself lives in the core; it is
re-exported from :mod:`devspark.sandbox` for existing imports.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from devspark.core.errors import FailedPreconditionError
from devspark.core.isolation import IsolationLevel
from devspark.sandbox.cgroups import CgroupLayout

SANDBOX_USER = os.environ.get("DEVSPARK_SANDBOX_USER", "devspark-sandbox")
PYTHON = Path("/usr/bin/python3")
NODE = Path("/usr/bin/node")


@dataclass(frozen=True, slots=True)
class SandboxUser:
    """The unprivileged host account agents run as."""

    name: str
    uid: int
    gid: int


@functools.cache
def cgroup_layout() -> CgroupLayout:
    """The host's cgroup layout, detected once (sweeping groups of dead processes)."""
    layout = CgroupLayout()
    if layout.available() is None:
        layout.sweep_stale()
    return layout


@functools.cache
def sandbox_user() -> SandboxUser | None:
    """The sandbox account when we are root, ``None`` when we already run unprivileged.

    Raises:
        FailedPreconditionError: when running as root and the account does not exist.

    """
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        raise FailedPreconditionError(
            f"sandbox user {SANDBOX_USER!r} does not exist; create it with `make install` or "
            f"`useradd --system --no-create-home --shell /usr/sbin/nologin {SANDBOX_USER}` "
            "(bubblewrap must never run as root)"
        ) from None
    if entry.pw_uid == 0:
        raise FailedPreconditionError(f"sandbox user {SANDBOX_USER!r} has uid 0")
    return SandboxUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def unavailable_reason(level: IsolationLevel, language: str = "python") -> str | None:
    """``None`` when ``level`` can run agents of ``language`` here, else why not."""
    interpreter = PYTHON if language == "python" else NODE
    if level is IsolationLevel.TRUSTED:
        return None if language == "python" else "trusted isolation runs Python agents only"
    if not interpreter.is_file():
        return f"{interpreter} is not installed"
    if level is IsolationLevel.PROCESS:
        return None
    if level is IsolationLevel.GVISOR:
        if shutil.which("runsc") is None:
            return "gVisor's runsc is not installed (apt-get install runsc)"
        if os.geteuid() != 0:
            return "gVisor isolation needs root to start runsc"
        return None
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv is not installed (util-linux)"
    try:
        sandbox_user()
    except FailedPreconditionError as exc:
        return str(exc)
    return cgroup_layout().available()


def require(level: IsolationLevel, language: str = "python") -> None:
    """Fail loudly when ``level`` is unavailable; never downgrade silently.

    Raises:
        FailedPreconditionError: naming the level and the reason.

    """
    reason = unavailable_reason(level, language)
    if reason is not None:
        raise FailedPreconditionError(f"isolation level {level.value!r} is unavailable: {reason}")
