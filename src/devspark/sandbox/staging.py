"""Content-addressed staging of agent folders, the SDK and state folders.

The sandbox user must be able to read what it runs, wherever the project or the agent
lives on the host (a home folder is often private). So agents and the SDK are copied,
once per content hash, into a runtime folder readable by the sandbox user; the copy
doubles as the immutable, hashed package of the version.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devspark.core.errors import FailedPreconditionError
from devspark.core.packaging import content_hash, package_files

DEFAULT_RUNTIME_DIR = Path("/var/tmp/devspark-runtime")  # noqa: S108 - root-owned, mode 0711, fixed name


def runtime_dir() -> Path:
    """The runtime folder (``DEVSPARK_RUNTIME_DIR`` or /var/tmp/devspark-runtime)."""
    path = Path(os.environ.get("DEVSPARK_RUNTIME_DIR", DEFAULT_RUNTIME_DIR))
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o711)
    return path


@dataclass(frozen=True, slots=True)
class StagedFolder:
    """A read-only, world-readable copy of a folder, named by its content hash."""

    source: Path
    path: Path
    sha256: str


def stage(folder: Path, kind: str = "agents") -> StagedFolder:
    """Copy ``folder`` into ``runtime/kind/<sha256>`` once; later calls reuse the copy."""
    folder = folder.resolve()
    sha = content_hash(folder)
    target = runtime_dir() / kind / sha
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.parent.chmod(0o755)
        scratch = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=target.parent))
        for path in package_files(folder):
            dest = scratch / path.relative_to(folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            dest.chmod(0o644)
        for root, dirs, _ in os.walk(scratch):
            for name in dirs:
                (Path(root) / name).chmod(0o755)
        scratch.chmod(0o755)
        try:
            scratch.rename(target)
        except OSError:  # another process staged the same content first
            shutil.rmtree(scratch, ignore_errors=True)
    return StagedFolder(folder, target, sha)


def _mount_quota(path: Path, quota_mb: int, uid: int, gid: int) -> None:
    with (path.parent / ".mount.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one mount even when two workers start at once
        if path.is_mount():
            return
        options = f"size={quota_mb}m,nr_inodes=4096,mode=0700,uid={uid},gid={gid},nosuid,nodev"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "devspark-state", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise FailedPreconditionError(
                f"cannot mount the state quota on {path}: {done.stderr.strip()}"
            )


def state_dir(key: str, uid: int | None, gid: int | None, *, quota_mb: int = 64) -> Path:
    """The writable state folder for ``key``, owned by the sandbox user, mode 0700.

    As root the folder is a size-capped tmpfs (``quota_mb``) mounted once and kept for
    the host's uptime, so an agent cannot fill the host's disk (RLIMIT_FSIZE alone caps
    single files, not their total). Unprivileged, it is a plain folder.
    """
    path = runtime_dir() / "state" / key
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o711)
        path.mkdir(mode=0o700, exist_ok=True)  # two workers may create it at once
    if os.geteuid() == 0 and not path.is_mount():
        _mount_quota(path, quota_mb, uid if uid is not None else 0, gid if gid is not None else 0)
    if uid is not None and gid is not None:
        info = path.stat()
        if info.st_uid != uid or stat.S_IMODE(info.st_mode) != 0o700:
            os.chown(path, uid, gid)
            path.chmod(0o700)
    return path
