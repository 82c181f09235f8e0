"""The runner lease: one runner plays a database's work, another takes over when it goes."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from devspark.server.lease import ADVISORY_KEY, FileLease, PostgresLease, lease_for
from devspark.server.runner import TournamentRunner
from devspark.services.durable import create_tournament
from devspark.store.db import make_engine, session_factory
from devspark.store.models import MatchRow, TournamentRow, UserRow


def test_a_file_lease_has_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = FileLease(tmp_path / "db.runner-lock"), FileLease(tmp_path / "db.runner-lock")
    assert first.try_acquire() and first.try_acquire()  # held: asking again is fine
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()
    second.release()  # not held: a no-op


def test_a_file_lease_dies_with_its_process(tmp_path: Path) -> None:
    path = tmp_path / "db.runner-lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from devspark.server.lease import FileLease; "
            f"assert FileLease(Path({str(path)!r})).try_acquire(); print('held', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    lease = FileLease(path)
    assert not lease.try_acquire()
    holder.kill()
    holder.wait(10)
    assert lease.try_acquire()  # SIGKILL released it: no stale holder
    lease.release()


@pytest.mark.integration
def test_a_postgres_lease_has_one_holder_at_a_time(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    other = make_engine(postgres_url)
    try:
        first, second = PostgresLease(engine), PostgresLease(other)
        assert first.try_acquire() and first.try_acquire()
        assert not second.try_acquire()
        first.release()
        assert second.try_acquire()
        second.release()
    finally:
        engine.dispose()
        other.dispose()


def test_lease_for_picks_the_database_kind(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'devspark.db'}")
    try:
        lease = lease_for(engine, tmp_path)
        assert isinstance(lease, FileLease)
        assert lease.path == tmp_path / "data" / "devspark.db.runner-lock"
    finally:
        engine.dispose()


def _running_tournament(made: sessionmaker[Session], pace_s: float) -> uuid.UUID:
    with made() as session:
        owner = UserRow(username=f"o-{uuid.uuid4().hex[:6]}", role="user")
        session.add(owner)
        session.commit()
        row = create_tournament(
            session,
            owner_id=owner.id,
            scenario="tictactoe",
            format="round_robin",
            agents=["builtin:minimax", "builtin:random"],
            params={"rounds": 3, "isolation": "trusted", "bootstrap": 20, "pace_s": pace_s},
        )
        row.status = "running"
        session.commit()
        return row.id


def _status(made: sessionmaker[Session], tid: uuid.UUID) -> tuple[str | None, int]:
    with made() as session:
        status = session.scalar(select(TournamentRow.status).where(TournamentRow.id == tid))
        finished = len(
            list(
                session.scalars(
                    select(MatchRow.id).where(
                        MatchRow.tournament_id == tid, MatchRow.status == "finished"
                    )
                )
            )
        )
    return status, finished


def test_two_servers_one_runner_and_a_takeover(migrated: Engine, tmp_path: Path) -> None:
    made = session_factory(migrated)
    tid = _running_tournament(made, pace_s=0.3)  # 6 matches, 0.3 s apart
    first = TournamentRunner(made, lease=lease_for(migrated, tmp_path / "a"), poll_s=0.2)
    second = TournamentRunner(made, lease=lease_for(migrated, tmp_path / "b"), poll_s=0.2)
    assert first.start() == [tid] and first.holding
    assert second.start() == [] and not second.holding  # it serves, it does not play
    try:
        deadline = time.monotonic() + 30
        while _status(made, tid)[1] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first.stop()  # the holder goes away mid-tournament
        deadline = time.monotonic() + 60
        while _status(made, tid)[0] != "finished":
            assert time.monotonic() < deadline, _status(made, tid)
            time.sleep(0.05)
        assert second.holding
    finally:
        first.stop()
        second.stop()
    with made() as session:
        rows = list(session.scalars(select(MatchRow).where(MatchRow.tournament_id == tid)))
    keys = Counter((r.options["pairing"]["round"], r.seed) for r in rows)
    assert len(rows) == 6 and set(keys.values()) == {1}  # every pairing played once


def test_the_holder_finds_work_another_server_accepted(migrated: Engine, tmp_path: Path) -> None:
    made = session_factory(migrated)
    holder = TournamentRunner(made, lease=lease_for(migrated, tmp_path), poll_s=0.1)
    holder.start()
    try:
        tid = _running_tournament(made, pace_s=0)  # started through another process's API
        deadline = time.monotonic() + 60
        while _status(made, tid)[0] != "finished":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        holder.stop()


@pytest.mark.integration
def test_a_postgres_lease_whose_connection_died_is_known_lost(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    other = make_engine(postgres_url)
    try:
        lease = PostgresLease(engine)
        assert lease.try_acquire() and lease.still_held()
        with other.connect() as conn:  # the server drops the connection (restart, failover)
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND objid = :key AND granted"
                ),
                {"key": ADVISORY_KEY},
            )
            conn.commit()
        assert not lease.still_held()  # the runner stops playing instead of racing
        taker = PostgresLease(other)
        assert taker.try_acquire()  # free for another server
        taker.release()
    finally:
        engine.dispose()
        other.dispose()
