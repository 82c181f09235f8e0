"""Helpers of the service-agent benchmarks: a fresh database, a hosting worker, its processes.

Shared by ``live_agents.py`` and ``agent_rtt.py``. :func:`hosting_worker` starts a real
:class:`~devspark.worker.engine.Worker` in this process and always stops it, then kills
any agent process still alive, also on Ctrl-C or SIGTERM (:func:`interrupt_on_sigterm`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from _util import percentile

T = TypeVar("T")

ADMIN_URL = os.environ.get(
    "DEVSPARK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def interrupt_on_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt like Ctrl-C, so every ``finally`` cleans up."""

    def handle(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handle)


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A migrated empty database: ``postgres`` (a new database, dropped after) or ``sqlite``."""
    from devspark.store.db import upgrade

    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            upgrade(url)
            yield url
        return
    import psycopg
    from sqlalchemy import make_url

    name = f"devspark_bench_{secrets.token_hex(4)}"
    admin = make_url(ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc)."""
    found = [pid]
    with contextlib.suppress(OSError):
        for thread in Path(f"/proc/{pid}/task").iterdir():
            for child in (thread / "children").read_text(encoding="ascii").split():
                found += process_tree(int(child))
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """``(PSS, RSS)`` of one process in KiB, from /proc/PID/smaps_rollup (0s when gone)."""
    pss = rss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii").splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    return pss, rss


def agent_pids(worker: Any) -> list[list[int]]:
    """Per hosted instance, every process of its sandboxes (launcher, bwrap, agent)."""
    host = worker.host
    if host is None:
        return []
    trees = []
    for instance in host.instances.values():
        pids: list[int] = []
        for slot in instance.slots:
            proc = getattr(slot.worker, "proc", None)
            if proc is not None:
                pids += process_tree(proc.popen.pid)
        trees.append(pids)
    return trees


def kill_all(pids: list[int]) -> int:
    """SIGKILL the processes of ``pids`` still alive; how many were."""
    alive = 0
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            alive += 1
    return alive


@contextlib.contextmanager
def hosting_worker(
    url: str, data_dir: Path, *, instances: int, threads: int = 256
) -> Iterator[tuple[Any, Any]]:
    """A started worker hosting up to ``instances``; ``(worker, session_factory)``.

    On the way out (also on Ctrl-C) the worker drains and closes its instances; any
    agent process seen while it ran and still alive afterwards is killed.
    """
    from devspark.services.entrants import AgentStager
    from devspark.services.playing import Playback
    from devspark.store.artifacts import ArtifactStore
    from devspark.store.db import make_engine, session_factory
    from devspark.worker.engine import Worker, WorkerConfig

    engine = make_engine(url)
    made = session_factory(engine)
    artifacts = ArtifactStore(data_dir / "artifacts")
    playback = Playback(stager=AgentStager(artifacts, data_dir / "work"), replays=artifacts)
    config = WorkerConfig(
        instances=instances, task_threads=threads, heartbeat_s=2.0, lease_s=15.0, poll_s=0.2
    )
    worker = Worker(made, engine, data_dir, config=config, playback=playback)
    seen: set[int] = set()
    worker.start()
    try:
        yield worker, made
        for tree in agent_pids(worker):
            seen.update(tree)
    finally:
        with contextlib.suppress(Exception):
            for tree in agent_pids(worker):
                seen.update(tree)
        worker.stop(timeout=60)
        left = kill_all(sorted(seen))
        if left:
            print(f"cleanup: killed {left} agent process(es) left after the worker stopped")
        engine.dispose()


def wait_for(check: Callable[[], T | None], what: str, timeout: float, poll_s: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy (``AssertionError`` after ``timeout`` s)."""
    from devspark.testing.waiting import wait_until

    return wait_until(check, what, timeout=timeout, poll_s=poll_s)


def run(main: Callable[[], None]) -> None:
    """Run a benchmark's ``main``; Ctrl-C or SIGTERM exits 130 once everything is stopped."""
    interrupt_on_sigterm()
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted: every agent process was stopped", file=sys.stderr)
        sys.exit(130)


def owner_id(made: Any) -> Any:
    """The id of a benchmark user (created)."""
    from devspark.store.models import UserRow

    with made() as session:
        user = UserRow(username=f"bench-{secrets.token_hex(3)}", role="user")
        session.add(user)
        session.commit()
        return user.id


def select_one_ms(made: Any, count: int = 300) -> list[float]:
    """Milliseconds of ``count`` one-statement transactions (``SELECT 1``, commit)."""
    from sqlalchemy import text

    times = []
    for _ in range(count):
        start = time.perf_counter()
        with made() as session:
            session.execute(text("SELECT 1"))
            session.commit()
        times.append((time.perf_counter() - start) * 1000)
    return times


def p50_p99(values: list[float]) -> tuple[float, float]:
    """The median and 99th percentile."""
    return percentile(values, 50), percentile(values, 99)
