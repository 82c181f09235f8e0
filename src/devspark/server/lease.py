"""The runner lease: one background runner per database, however many servers share it.

Several ``devspark serve`` processes may serve one PostgreSQL database behind a load
balancer, but only one of them may play its tournaments and matches: two runners would
resume the same tournament and play its pairings twice. Each server's
:class:`~devspark.server.runner.TournamentRunner` therefore plays only while it holds the
database's lease; the others serve the API and try again every few seconds, so one of
them takes over within seconds when the holder dies.

Both leases are released by the operating system when their process dies, SIGKILL
included, so there is no expiry to tune and no stale holder to clear:

* :class:`PostgresLease`: a session-level advisory lock (``pg_try_advisory_lock``) held on
  a connection of its own;
* :class:`FileLease`: an exclusive ``flock`` on a file next to the SQLite database.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text

logger = logging.getLogger(__name__)

ADVISORY_KEY = 0x64657673  # "devs": the advisory-lock key of the runner lease
"""The PostgreSQL advisory lock key the runner lease takes."""


class RunnerLease(Protocol):
    """The right to run the background runner on one database."""

    def try_acquire(self) -> bool:
        """Take the lease if it is free (or already ours); never waits."""
        ...

    def still_held(self) -> bool:
        """Whether a lease taken earlier is still ours (``False`` when never taken)."""
        ...

    def release(self) -> None:
        """Give the lease back (a no-op when not held)."""
        ...


class PostgresLease:
    """A PostgreSQL session advisory lock on a connection kept for the purpose.

    Args:
        engine: The server's engine (one connection is taken out of its pool).
        key: The advisory lock key.

    """

    def __init__(self, engine: Engine, key: int = ADVISORY_KEY) -> None:
        self.engine = engine
        self.key = key
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        """Take the advisory lock if no other session holds it."""
        if self._connection is not None:
            return True
        connection = self.engine.connect()
        try:
            held = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
                ).scalar()
            )
            connection.commit()  # session-level: the lock outlives the transaction
        except Exception:
            connection.close()
            raise
        if not held:
            connection.close()
            return False
        self._connection = connection
        return True

    def still_held(self) -> bool:
        """Whether the lock's connection is alive (the server drops the lock with it)."""
        connection = self._connection
        if connection is None:
            return False
        try:
            connection.execute(text("SELECT 1"))
            connection.commit()
        except Exception:
            logger.warning("the runner lease's connection died", exc_info=True)
            self._connection = None
            try:
                connection.close()
            except Exception:  # already gone
                logger.debug("closing the dead lease connection failed", exc_info=True)
            return False
        return True

    def release(self) -> None:
        """Unlock, and hand the connection back."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            connection.commit()
        except Exception:  # the connection died: the server dropped the lock with it
            logger.warning("could not unlock the runner lease cleanly", exc_info=True)
        finally:
            connection.close()


class FileLease:
    """An exclusive ``flock`` on a lock file.

    Args:
        path: The lock file (created when missing).

    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Lock the file if no other process holds it."""
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

    def still_held(self) -> bool:
        """A lock on an open file lasts as long as this process keeps it."""
        return self._fd is not None

    def release(self) -> None:
        """Unlock and close the file."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def lease_for(engine: Engine, data_dir: Path) -> RunnerLease:
    """The lease that fits ``engine``'s database.

    PostgreSQL gets an advisory lock; SQLite a lock file next to its database file (or
    in ``data_dir`` for an in-memory database).
    """
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresLease(engine)
    database = url.database
    if database and database != ":memory:":
        path = Path(database).expanduser()
        return FileLease(path.with_name(path.name + ".runner-lock"))
    return FileLease(data_dir / "runner.lock")


__all__ = ["ADVISORY_KEY", "FileLease", "PostgresLease", "RunnerLease", "lease_for"]
