"""One worker per SQLite database: the file lease, and a second worker that waits its turn."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from worker_helpers import make_worker, match_status, queued_match, wait_until, worker_row

from devspark.store.db import make_engine, session_factory, upgrade
from devspark.store.models import MatchRow
from devspark.worker.lease import FileLease, lease_for


def test_a_file_lease_has_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = FileLease(tmp_path / "db.worker-lock"), FileLease(tmp_path / "db.worker-lock")
    assert first.try_acquire() and first.try_acquire()  # held: asking again is fine
    assert first.held and not second.held
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire() and second.held
    second.release()
    second.release()  # not held: a no-op
    assert not second.held


def test_a_file_lease_dies_with_its_process(tmp_path: Path) -> None:
    path = tmp_path / "db.worker-lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from devspark.worker.lease import FileLease; "
            f"assert FileLease(Path({str(path)!r})).try_acquire(); print('held', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        lease = FileLease(path)
        assert not lease.try_acquire()
    finally:
        holder.kill()
        holder.wait(10)
    assert lease.try_acquire()  # SIGKILL released it: no stale holder
    lease.release()


def test_lease_for_puts_the_lock_next_to_the_sqlite_file(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'devspark.db'}")
    try:
        lease = lease_for(engine, tmp_path / "elsewhere")
        assert isinstance(lease, FileLease)
        assert lease.path == tmp_path / "data" / "devspark.db.worker-lock"
    finally:
        engine.dispose()


def test_lease_for_an_in_memory_database_is_in_the_data_folder(tmp_path: Path) -> None:
    engine = make_engine("sqlite://")
    try:
        lease = lease_for(engine, tmp_path)
        assert lease is not None and lease.path == tmp_path / "worker.lock"
    finally:
        engine.dispose()


@pytest.mark.integration
def test_postgresql_needs_no_lease(postgres_url: str, tmp_path: Path) -> None:
    engine = make_engine(postgres_url)
    try:
        assert lease_for(engine, tmp_path) is None  # rows are claimed with SKIP LOCKED
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in a file (the lease lives next to it)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'devspark.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _played_by(made: sessionmaker[Session], match_id: object) -> object:
    with made() as session:
        row = session.get(MatchRow, match_id)
        assert row is not None
        return row.worker_id if row.status == "finished" else None


def test_a_second_worker_on_sqlite_says_it_waits_and_plays_once_the_first_stops(
    sqlite_file: Engine, tmp_path: Path
) -> None:
    made = session_factory(sqlite_file)
    first = make_worker(made, sqlite_file, tmp_path / "a")
    heard: list[str] = []
    told = threading.Event()

    def say(message: str) -> None:
        heard.append(message)
        told.set()

    second = make_worker(made, sqlite_file, tmp_path / "b", say=say)
    first.start()
    try:
        wait_until(lambda: first.worker_id, "the first worker to register")
        second.start()
        assert told.wait(30), "the second worker said nothing"
        assert "another worker plays on this SQLite database" in heard[0]
        assert "devspark.db.worker-lock" in heard[0] and "waiting" in heard[0]
        assert second.worker_id is None  # not registered: it plays nothing while it waits

        early = queued_match(made, seed=1)
        assert wait_until(lambda: _played_by(made, early), "the first match") == first.worker_id

        first.stop()
        assert first.wait_stopped(30) and worker_row(made, first.worker_id).state == "offline"
        wait_until(lambda: second.worker_id, "the second worker to take over")
        assert any("this one plays now" in message for message in heard)
        late = queued_match(made, seed=2)
        assert wait_until(lambda: _played_by(made, late), "the second match") == second.worker_id
        assert match_status(made, early)[0] == "finished"
    finally:
        first.stop()
        second.stop()
    assert second.wait_stopped(30)


def test_a_waiting_worker_that_is_drained_stops_without_playing(
    sqlite_file: Engine, tmp_path: Path
) -> None:
    made = session_factory(sqlite_file)
    first = make_worker(made, sqlite_file, tmp_path / "a")
    told = threading.Event()
    second = make_worker(made, sqlite_file, tmp_path / "b", say=lambda _message: told.set())
    first.start()
    try:
        wait_until(lambda: first.worker_id, "the first worker to register")
        second.start()
        assert told.wait(30)
        second.stop()
        assert second.wait_stopped(30)
        assert second.worker_id is None and second.state == "offline"
        assert first.lease is not None and first.lease.held  # untouched by the other's exit
    finally:
        first.stop()
