"""One worker at a time on a SQLite database: an exclusive ``flock`` next to its file.

SQLite has no row locks, so two worker processes could claim the same match. A worker
on SQLite therefore plays only while it holds :class:`FileLease`; a second one says so
and waits. The operating system drops the lock when its holder dies, SIGKILL included,
so there is no expiry to tune and no stale holder to clear. On PostgreSQL any number of
workers play together (rows are claimed with ``FOR UPDATE SKIP LOCKED``) and no lease is
needed.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import Engine


class FileLease:
    """An exclusive ``flock`` on a lock file.

    Args:
        path: The lock file (created when missing).

    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Lock the file if no other process holds it; never waits."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Unlock and close the file (a no-op when not held)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def lease_for(engine: Engine, data_dir: Path) -> FileLease | None:
    """The lease a worker on ``engine``'s database needs: ``None`` on PostgreSQL.

    SQLite gets a lock file next to its database file (``<file>.worker-lock``), or in
    ``data_dir`` for an in-memory database.
    """
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if database and database != ":memory:":
        path = Path(database).expanduser()
        return FileLease(path.with_name(path.name + ".worker-lock"))
    return FileLease(data_dir / "worker.lock")


__all__ = ["FileLease", "lease_for"]
