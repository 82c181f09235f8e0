"""Durable tournaments on the work queue: resumed after a SIGKILL, sliced, cancelled, failed.

Every test runs on SQLite and on PostgreSQL. A tournament is played with the steps a
worker takes (:func:`~devspark.services.durable.run_tournament_durably`, or
:func:`~devspark.services.durable.advance` and the queue by hand), and its final standings
are compared with an uninterrupted in-memory run.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import LocalExecutor
from devspark.arena.formats import TournamentFormat
from devspark.arena.match import MatchSpec
from devspark.arena.tournament import build_format, planned_matches, run_tournament
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from devspark.core.results import MatchResult
from devspark.rating.leaderboard import build_leaderboards
from devspark.rating.models import OpenSkillRatings
from devspark.rating.outcomes import Outcome
from devspark.sandbox import IsolationLevel
from devspark.services import durable
from devspark.services.durable import (
    MatchKey,
    TournamentBooks,
    advance,
    cancelled_with_queued,
    needing_advance,
    run_tournament_durably,
)
from devspark.services.failures import PlayInterrupted
from devspark.services.playing import Playback, play_claimed
from devspark.services.queue import WorkerIdentity, claim_match, register_worker
from devspark.services.tournaments import (
    TournamentParams,
    build,
    cancel,
    create_tournament,
    planned_of,
    start_tournament,
)
from devspark.store.artifacts import ArtifactRef, ArtifactStore
from devspark.store.db import session_factory
from devspark.store.models import (
    MatchResultRow,
    MatchRow,
    RatingSnapshotRow,
    TournamentRow,
    UserRow,
    WorkerRow,
)

WORKER = Path(__file__).with_name("durable_worker.py")
SCENARIO = "connect_four"
AGENTS = (
    "builtin:connect-four-alphabeta",
    "builtin:connect-four-heuristic",
    "builtin:random",
)
SEED = 11
PARAMS = TournamentParams(agents=AGENTS, rounds=2, isolation=IsolationLevel.TRUSTED, bootstrap=50)


@pytest.fixture
def factory(migrated: Engine) -> sessionmaker[Session]:
    return session_factory(migrated)


def _owner(session: Session) -> uuid.UUID:
    user = UserRow(username=f"owner-{uuid.uuid4().hex[:8]}", role="user")
    session.add(user)
    session.commit()
    return user.id


def _create(factory: sessionmaker[Session], fmt: str = "round_robin", rounds: int = 2) -> uuid.UUID:
    with factory() as session:
        row = create_tournament(
            session,
            owner_id=_owner(session),
            scenario=SCENARIO,
            format=fmt,
            agents=AGENTS,
            params=dataclasses.replace(PARAMS, rounds=rounds),
            seed=SEED,
        )
        return row.id


def _expected(fmt: str = "round_robin", rounds: int = 2) -> tuple[int, list[Standing]]:
    """Match count and standings of an uninterrupted in-memory run."""
    schedule = build_format(fmt, AGENTS, seed=SEED, rounds=rounds)
    with LocalExecutor(workers=1) as executor:
        result = run_tournament(
            schedule,
            SCENARIO,
            executor=executor,
            isolation=IsolationLevel.TRUSTED,
            seed=SEED,
            bootstrap=PARAMS.bootstrap,
        )
    lines = [(r.agent, r.rank, r.rating, r.lower, r.upper) for r in result.standings]
    return len(result.outcomes), lines


Standing = tuple[str, int, float, float, float]


def _rounded(lines: list[Standing]) -> list[Standing]:
    return [(a, rank, round(r, 6), round(lo, 6), round(up, 6)) for a, rank, r, lo, up in lines]


def _standings(session: Session, tournament_id: uuid.UUID) -> list[Standing]:
    rows = session.scalars(
        select(RatingSnapshotRow)
        .where(RatingSnapshotRow.tournament_id == tournament_id)
        .order_by(RatingSnapshotRow.rank, RatingSnapshotRow.agent_ref)
    )
    return _rounded(
        [(r.agent_ref, r.rank or 0, r.rating, r.lower or 0.0, r.upper or 0.0) for r in rows]
    )


def _finished(session: Session, tournament_id: uuid.UUID) -> dict[uuid.UUID, datetime | None]:
    rows = session.scalars(
        select(MatchRow).where(
            MatchRow.tournament_id == tournament_id, MatchRow.status == "finished"
        )
    )
    return {r.id: r.finished_at for r in rows}


def _assert_complete(session: Session, tournament_id: uuid.UUID, total: int) -> None:
    tournament = session.get(TournamentRow, tournament_id)
    assert tournament is not None and tournament.status == "finished"
    rows = list(session.scalars(select(MatchRow).where(MatchRow.tournament_id == tournament_id)))
    assert len(rows) == total
    assert all(r.status == "finished" for r in rows)
    keys = [
        (r.options["pairing"]["round"], tuple(r.options["pairing"]["agents"]), r.seed) for r in rows
    ]
    assert len(set(keys)) == len(keys)
    counts = dict(
        session.execute(
            select(MatchResultRow.match_id, func.count())
            .join(MatchRow, MatchRow.id == MatchResultRow.match_id)
            .where(MatchRow.tournament_id == tournament_id)
            .group_by(MatchResultRow.match_id)
        ).all()
    )
    assert counts == {r.id: len(r.options["pairing"]["agents"]) for r in rows}


def _spawn(
    db_url: str, tournament_id: uuid.UUID, delay: float, lease_s: float | None = None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DEVSPARK_TEST_MATCH_DELAY": str(delay)}
    if lease_s is not None:
        env["DEVSPARK_TEST_LEASE_S"] = str(lease_s)
    return subprocess.Popen(
        [sys.executable, str(WORKER), db_url, str(tournament_id)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _running(session: Session, tournament_id: uuid.UUID) -> list[MatchRow]:
    return list(
        session.scalars(
            select(MatchRow).where(
                MatchRow.tournament_id == tournament_id, MatchRow.status == "running"
            )
        )
    )


@pytest.mark.slow
def test_sigkill_mid_tournament_then_restart_loses_nothing_and_replays_nothing(
    db_url: str, factory: sessionmaker[Session]
) -> None:
    total, expected = _expected()
    assert total >= 12
    tournament_id = _create(factory)

    worker = _spawn(db_url, tournament_id, delay=0.4)
    deadline = time.monotonic() + 60
    while True:  # killed while it holds a match: 3 finished and the 4th claimed
        with factory() as session:
            before = _finished(session, tournament_id)
            held = _running(session, tournament_id)
        if len(before) >= 3 and held:
            break
        assert worker.poll() is None, worker.communicate()[0].decode()
        assert time.monotonic() < deadline, "the worker finished no match in 60 s"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL
    with factory() as session:
        before = _finished(session, tournament_id)
        tournament = session.get(TournamentRow, tournament_id)
        assert tournament is not None and tournament.status == "running"
        (orphan,) = _running(session, tournament_id)  # the dead process's claim
        dead = session.get(WorkerRow, orphan.worker_id)
        assert dead is not None and dead.state != "offline"  # nobody told the queue
    assert 3 <= len(before) < total

    restarted = _spawn(db_url, tournament_id, delay=0.0, lease_s=1.0)
    output, _ = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, output.decode()
    assert output.decode().strip().splitlines()[-1] == "finished"

    with factory() as session:
        _assert_complete(session, tournament_id, total)
        after = _finished(session, tournament_id)
        assert {key: after[key] for key in before} == before  # finished matches untouched
        replayed = session.get(MatchRow, orphan.id)
        assert replayed is not None and replayed.worker_id not in (None, dead.id)
        reaped = session.get(WorkerRow, dead.id)
        assert reaped is not None and reaped.state == "offline"  # its lease ran out
        assert _standings(session, tournament_id) == _rounded(expected)


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an error any handler may catch."""


class CrashingExecutor:
    """Plays ``budget`` matches, then fails like a dying process would."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.inner = LocalExecutor(workers=1)
        self.played: list[MatchSpec] = []

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        for spec in specs:
            if len(self.played) >= self.budget:
                raise SimulatedCrash("simulated crash")
            self.played.append(spec)
            yield from self.inner.map([spec])

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize(("fmt", "rounds"), [("swiss", 3), ("double_elimination", 3)])
def test_adaptive_format_resumes_to_the_uninterrupted_standings(
    factory: sessionmaker[Session], fmt: str, rounds: int
) -> None:
    total, expected = _expected(fmt, rounds)
    tournament_id = _create(factory, fmt, rounds)
    crashing = CrashingExecutor(budget=total // 2)
    with pytest.raises(SimulatedCrash, match="simulated crash"):
        run_tournament_durably(factory, tournament_id, crashing)
    crashing.close()
    with factory() as session:
        assert len(_finished(session, tournament_id)) == total // 2
        # the interrupted match went back to the queue, held by no one; its worker left
        assert _running(session, tournament_id) == []
        assert _statuses(session, tournament_id).get("queued", 0) >= 1
        assert set(session.scalars(select(WorkerRow.state))) == {"offline"}

    resumed = CrashingExecutor(budget=10**6)
    run_tournament_durably(factory, tournament_id, resumed)
    resumed.close()
    assert len(resumed.played) == total - total // 2
    with factory() as session:
        _assert_complete(session, tournament_id, total)
        assert _standings(session, tournament_id) == _rounded(expected)


def test_cancel_stops_before_the_next_match(factory: sessionmaker[Session]) -> None:
    tournament_id = _create(factory)

    class CancellingExecutor(CrashingExecutor):
        def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
            results = list(super().map(specs))
            if len(self.played) == 2:
                with factory() as session:
                    cancel(session, tournament_id)
            yield from results

    executor = CancellingExecutor(budget=10**6)
    assert run_tournament_durably(factory, tournament_id, executor) == "cancelled"
    executor.close()
    assert len(executor.played) == 2
    with factory() as session:
        tournament = session.get(TournamentRow, tournament_id)
        assert tournament is not None and tournament.status == "cancelled"
        # the match in play when the cancel came finished and was kept
        assert len(_finished(session, tournament_id)) == 2
        assert set(_statuses(session, tournament_id)) <= {"finished", "cancelled"}
    # a cancelled tournament is never resumed
    again = CrashingExecutor(budget=0)
    assert run_tournament_durably(factory, tournament_id, again) == "cancelled"
    assert again.played == []


def test_rows_queued_just_before_the_cancel_are_never_claimed_and_end_cancelled(
    factory: sessionmaker[Session],
) -> None:
    tournament_id = _create(factory, "double_elimination", 3)
    with LocalExecutor(workers=1) as executor:
        assert run_tournament_durably(factory, tournament_id, executor, max_matches=0) == (
            "running"
        )
    with factory() as session:
        queued = _statuses(session, tournament_id)
        assert queued == {"queued": 2}
        # the cancel's status change lands, but not its end of the queued rows (as when a
        # worker's batch of rows commits between the two)
        session.execute(
            update(TournamentRow)
            .where(TournamentRow.id == tournament_id)
            .values(status="cancelled")
        )
        session.commit()
        assert cancelled_with_queued(session) == [tournament_id]
        worker_id = register_worker(session, WorkerIdentity.here("cancel-test"))
        assert claim_match(session, worker_id) is None
        assert claim_match(session, worker_id, tournament_id=tournament_id) is None
        assert _statuses(session, tournament_id) == {"queued": 2}  # never claimed
        assert advance(session, tournament_id) == "cancelled"  # a worker tidies up
        assert _statuses(session, tournament_id) == {"cancelled": 2}
        assert cancelled_with_queued(session) == []


def test_finished_tournament_is_not_run_again_nor_cancelled(factory: sessionmaker[Session]) -> None:
    tournament_id = _create(factory)
    with LocalExecutor(workers=1) as executor:
        assert run_tournament_durably(factory, tournament_id, executor) == "finished"
    idle = CrashingExecutor(budget=0)
    assert run_tournament_durably(factory, tournament_id, idle) == "finished"
    assert idle.played == []
    with factory() as session, pytest.raises(FailedPreconditionError, match="already finished"):
        cancel(session, tournament_id)


def test_create_tournament_persists_params_and_refuses_bad_ones(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session:
        owner = _owner(session)
        row = create_tournament(
            session,
            owner_id=owner,
            scenario="tictactoe",
            format="gauntlet",
            agents=["builtin:minimax"],
            params={"rounds": 3, "baselines": ["builtin:random"], "isolation": "trusted"},
            seed=5,
        )
        assert row.status == "created"
        assert row.scenario_id == "tictactoe-v1"
        assert row.params["baselines"] == ["builtin:random"]
        assert TournamentParams.from_json(row.params).isolation is IsolationLevel.TRUSTED
        with pytest.raises(InvalidArgumentError, match="'knockout' is not one of"):
            create_tournament(
                session, owner_id=owner, scenario="tictactoe", format="knockout", agents=AGENTS
            )
        with pytest.raises(InvalidArgumentError, match="gauntlet needs"):
            create_tournament(
                session, owner_id=owner, scenario=SCENARIO, format="gauntlet", agents=AGENTS
            )
        with pytest.raises(InvalidArgumentError, match="does not declare scenario"):
            create_tournament(
                session, owner_id=owner, scenario="maze", format="round_robin", agents=AGENTS
            )
        with pytest.raises(NotFoundError, match="does not exist"):
            cancel(session, uuid.uuid4())


@pytest.mark.parametrize(("fmt", "rounds"), [("round_robin", 2), ("swiss", 3)])
def test_slices_of_a_few_matches_reach_the_uninterrupted_standings(
    factory: sessionmaker[Session], fmt: str, rounds: int
) -> None:
    total, expected = _expected(fmt, rounds)
    tournament_id = _create(factory, fmt, rounds)
    statuses: list[str] = []
    with LocalExecutor(workers=1) as executor:
        while not statuses or statuses[-1] == "running":
            statuses.append(run_tournament_durably(factory, tournament_id, executor, max_matches=5))
            assert len(statuses) <= total, "a slice played nothing"
            with factory() as session:  # between slices nothing is held
                assert _running(session, tournament_id) == []
    assert statuses[-1] == "finished" and len(statuses) == -(-total // 5)
    with factory() as session:
        _assert_complete(session, tournament_id, total)
        assert _standings(session, tournament_id) == _rounded(expected)
        assert len(_finished(session, tournament_id)) == total
    with LocalExecutor(workers=1) as executor:  # finished: nothing more to play
        assert run_tournament_durably(factory, tournament_id, executor, max_matches=5) == (
            "finished"
        )


def test_pace_is_stored_and_a_negative_one_refused(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        row = create_tournament(
            session,
            owner_id=_owner(session),
            scenario=SCENARIO,
            format="ladder",
            agents=AGENTS,
            params=dataclasses.replace(PARAMS, rounds=50, pace_s=2.5),
        )
        assert TournamentParams.from_json(row.params).pace_s == 2.5
        with pytest.raises(InvalidArgumentError, match="pace_s"):
            create_tournament(
                session,
                owner_id=_owner(session),
                scenario=SCENARIO,
                format="ladder",
                agents=AGENTS,
                params=dataclasses.replace(PARAMS, pace_s=-1),
            )


def _play_queued(
    factory: sessionmaker[Session],
    tournament_id: uuid.UUID,
    worker_id: uuid.UUID,
    executor: LocalExecutor,
) -> int:
    """Claim and play every queued match of the tournament; how many were played."""
    played = 0
    while True:
        with factory() as session:
            claim = claim_match(session, worker_id, tournament_id=tournament_id)
        if claim is None:
            return played
        assert play_claimed(factory, claim.match_id, worker_id, executor).result is not None
        played += 1


def _queued_keys(factory: sessionmaker[Session], tournament_id: uuid.UUID) -> set[MatchKey]:
    with factory() as session:
        rows = session.scalars(
            select(MatchRow).where(
                MatchRow.tournament_id == tournament_id, MatchRow.status == "queued"
            )
        )
        return {
            (r.options["pairing"]["round"], tuple(r.options["pairing"]["agents"]), r.seed)
            for r in rows
        }


def test_a_kept_book_does_not_replay_and_a_stale_one_is_rebuilt_with_the_same_pairings(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    total, expected = _expected("swiss", 3)
    tournament_id = _create(factory, "swiss", 3)
    with factory() as session:
        start_tournament(session, tournament_id)
        worker_id = register_worker(session, WorkerIdentity.here("books-test"))
    builds: list[str] = []
    real_build = build

    def counted(name: str, *args: Any) -> TournamentFormat:
        builds.append(name)  # a format built is the history replayed into it
        return real_build(name, *args)

    monkeypatch.setattr("devspark.services.durable.build", counted)
    kept, other = TournamentBooks(), TournamentBooks()
    with LocalExecutor(workers=1) as executor:
        with factory() as session:
            assert advance(session, tournament_id, kept) == "running"  # queues round 1
        book = kept.get(tournament_id)
        assert book is not None and len(builds) == 1
        assert _play_queued(factory, tournament_id, worker_id, executor) == 1
        with factory() as session:
            assert advance(session, tournament_id, kept) == "running"  # records it, queues 2
        assert kept.get(tournament_id) is book and len(builds) == 1  # kept: no replay
        assert len(book.outcomes) == 1

        # another worker (books of its own) records round 2 and queues round 3
        assert _play_queued(factory, tournament_id, worker_id, executor) == 1
        with factory() as session:
            assert advance(session, tournament_id, other) == "running"
        assert len(builds) == 2
        fresh = other.get(tournament_id)
        assert fresh is not None and fresh.open_round is not None
        queued = _queued_keys(factory, tournament_id)
        assert {durable._pairing_key(p) for p in fresh.open_round} == queued

        # the kept book has not seen round 3's rows: stale, so it is rebuilt
        with factory() as session:
            assert advance(session, tournament_id, kept) == "running"
        rebuilt = kept.get(tournament_id)
        assert rebuilt is not None and rebuilt is not book and len(builds) == 3
        assert rebuilt.open_round is not None
        assert {durable._pairing_key(p) for p in rebuilt.open_round} == queued
        assert len(rebuilt.outcomes) == 2 and _queued_keys(factory, tournament_id) == queued

        while True:  # the two workers take turns to the end
            _play_queued(factory, tournament_id, worker_id, executor)
            with factory() as session:
                status = advance(session, tournament_id, kept)
            if status != "running":
                break
            kept, other = other, kept
    assert status == "finished"
    assert len(kept) == 0  # an ended tournament's book is dropped
    with factory() as session:
        _assert_complete(session, tournament_id, total)
        assert _standings(session, tournament_id) == _rounded(expected)


def _waiting_on_a_lock(factory: sessionmaker[Session]) -> bool:
    """Whether a PostgreSQL backend waits on a lock (always ``False`` on SQLite)."""
    with factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            return False
        return bool(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
        )


def test_a_cancel_during_the_final_fit_is_kept_or_refused_never_lost(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    tournament_id = _create(factory, rounds=1)
    real = build_leaderboards
    answers: list[BaseException | None] = []

    def cancel_in_the_api() -> None:
        try:
            with factory() as other:
                cancel(other, tournament_id)
        except BaseException as exc:  # reported to the test
            answers.append(exc)
        else:
            answers.append(None)

    api = threading.Thread(target=cancel_in_the_api)

    def cancel_meanwhile(*args: Any, **kwargs: Any) -> Any:
        api.start()  # the API's cancel, while the worker fits the standings
        deadline = time.monotonic() + 20
        while api.is_alive() and not _waiting_on_a_lock(factory):
            assert time.monotonic() < deadline, "the cancel neither ended nor waited"
            api.join(0.02)
        return real(*args, **kwargs)

    monkeypatch.setattr("devspark.services.durable.build_leaderboards", cancel_meanwhile)
    with LocalExecutor(workers=1) as executor:
        status = run_tournament_durably(factory, tournament_id, executor)
    api.join(20)
    assert not api.is_alive() and len(answers) == 1
    with factory() as session:
        row = session.get(TournamentRow, tournament_id)
        assert row is not None
        if answers[0] is None:  # the cancel was answered "done": it must hold
            assert (status, row.status) == ("cancelled", "cancelled")
            assert _standings(session, tournament_id) == []
        else:  # it waited for the finish's row lock, then found it finished
            assert isinstance(answers[0], FailedPreconditionError), answers[0]
            assert "already finished" in str(answers[0])
            assert (status, row.status) == ("finished", "finished")
            assert _standings(session, tournament_id) != []


class FailingExecutor(CrashingExecutor):
    """Plays ``budget`` matches, then raises ``error`` (a failure inside play)."""

    def __init__(self, budget: int, error: Exception) -> None:
        super().__init__(budget)
        self.error = error

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        if len(self.played) >= self.budget:
            raise self.error
        return super().map(specs)


def _statuses(session: Session, tournament_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(
        select(MatchRow.status, func.count())
        .where(MatchRow.tournament_id == tournament_id)
        .group_by(MatchRow.status)
    )
    return {str(status): int(count) for status, count in rows}


def test_a_match_that_fails_in_play_ends_it_and_its_tournament_failed_with_the_reason(
    factory: sessionmaker[Session],
) -> None:
    tournament_id = _create(factory)
    executor = FailingExecutor(budget=2, error=RuntimeError("scenario exploded at reset"))
    assert run_tournament_durably(factory, tournament_id, executor) == "failed"
    executor.close()
    with factory() as session:
        tournament = session.get(TournamentRow, tournament_id)
        assert tournament is not None and tournament.status == "failed"
        assert tournament.finished_at is not None
        failed = session.scalars(
            select(MatchRow).where(
                MatchRow.tournament_id == tournament_id, MatchRow.status == "failed"
            )
        ).one()
        assert failed.error == "RuntimeError: scenario exploded at reset"
        assert tournament.error is not None
        assert tournament.error.startswith(f"match {failed.id} (")
        assert tournament.error.endswith("failed: RuntimeError: scenario exploded at reset")
        assert _statuses(session, tournament_id) == {"finished": 2, "failed": 1}
        assert not session.scalars(
            select(RatingSnapshotRow).where(RatingSnapshotRow.tournament_id == tournament_id)
        ).all()
        assert needing_advance(session) == []  # nothing left for a worker to do
        with pytest.raises(FailedPreconditionError, match="already failed: match"):
            cancel(session, tournament_id)
    again = CrashingExecutor(budget=0)  # a failed tournament is never played again
    assert run_tournament_durably(factory, tournament_id, again) == "failed"
    assert again.played == []


def test_a_failure_mid_round_leaves_none_of_the_rounds_matches_queued(
    factory: sessionmaker[Session],
) -> None:
    tournament_id = _create(factory, "double_elimination", 3)  # two matches a round
    executor = FailingExecutor(budget=0, error=RuntimeError("scenario exploded at reset"))
    assert run_tournament_durably(factory, tournament_id, executor) == "failed"
    executor.close()
    with factory() as session:
        statuses = _statuses(session, tournament_id)
    assert statuses.get("failed") == 1
    # the round's other match will never be played: it must not wait in the queue
    assert set(statuses) <= {"failed", "cancelled"}, statuses


def test_a_result_that_cannot_be_stored_fails_the_match_and_the_tournament(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    class FullDisk(ArtifactStore):
        def put_bytes(self, data: bytes, kind: str) -> ArtifactRef:
            raise OSError(28, "No space left on device")

    tournament_id = _create(factory)
    executor = CrashingExecutor(budget=10**6)
    playback = Playback(replays=FullDisk(tmp_path / "artifacts"))
    assert run_tournament_durably(factory, tournament_id, executor, playback) == "failed"
    executor.close()
    assert len(executor.played) == 1
    with factory() as session:
        assert _statuses(session, tournament_id) == {"failed": 1}
        tournament = session.get(TournamentRow, tournament_id)
        assert tournament is not None and tournament.error is not None
        assert "its result could not be stored: OSError" in tournament.error
        assert not session.scalars(select(MatchResultRow)).all()  # nothing half-stored


def test_options_the_scenario_refuses_at_play_fail_the_tournament(
    factory: sessionmaker[Session],
) -> None:
    tournament_id = _create(factory)
    with factory() as session:  # stored before options were checked when created
        row = session.get(TournamentRow, tournament_id)
        assert row is not None
        row.params = {**row.params, "options": {"difficulty": 9}}
        session.commit()
    executor = CrashingExecutor(budget=10**6)
    assert run_tournament_durably(factory, tournament_id, executor) == "failed"
    executor.close()
    with factory() as session:
        tournament = session.get(TournamentRow, tournament_id)
        assert tournament is not None and tournament.error is not None
        assert "invalid_argument: options.difficulty=9" in tournament.error
        assert _statuses(session, tournament_id) == {"failed": 1}


def test_an_interrupted_play_leaves_the_match_queued_and_the_tournament_running(
    factory: sessionmaker[Session],
) -> None:
    tournament_id = _create(factory)
    executor = FailingExecutor(budget=1, error=PlayInterrupted("stopping"))
    with pytest.raises(PlayInterrupted):
        run_tournament_durably(factory, tournament_id, executor)
    executor.close()
    with factory() as session:
        tournament = session.get(TournamentRow, tournament_id)
        assert tournament is not None and tournament.status == "running"
        assert tournament.error is None
        assert _statuses(session, tournament_id) == {"finished": 1, "queued": 1}
        queued = session.scalars(
            select(MatchRow).where(
                MatchRow.tournament_id == tournament_id, MatchRow.status == "queued"
            )
        ).one()
        assert queued.worker_id is None and queued.started_at is None  # free for anyone
    with LocalExecutor(workers=1) as resumed:  # the next worker plays it
        assert run_tournament_durably(factory, tournament_id, resumed) == "finished"


def _played(fmt: TournamentFormat, upsets: bool) -> int:
    """Drive ``fmt`` to the end with synthetic outcomes; how many matches it issued."""
    played = 0
    while not fmt.done:
        pairings = [p for p in fmt.next_round() if len(p.agents) >= 2]
        if not pairings:
            break
        for pairing in pairings:
            ranked = sorted(pairing.agents, reverse=upsets)
            scores = tuple(1.0 if agent == ranked[0] else 0.0 for agent in pairing.agents)
            fmt.record(pairing, Outcome(tuple(pairing.agents), scores))
            played += 1
    return played


@pytest.mark.parametrize(
    ("fmt", "agents", "rounds", "exact"),
    [
        ("round_robin", 5, 2, True),
        ("swiss", 7, 3, True),
        ("swiss", 6, None, True),
        ("ladder", 4, 37, True),
        ("single_elimination", 6, None, True),
        ("single_elimination", 5, 3, False),
        ("double_elimination", 5, None, False),
    ],
)
def test_planned_matches_counts_what_the_format_will_play(
    fmt: str, agents: int, rounds: int | None, exact: bool
) -> None:
    names = tuple(f"builtin:a{i}" for i in range(agents))
    params = TournamentParams(agents=names, rounds=rounds)
    planned = planned_matches(build(fmt, params, SEED, OpenSkillRatings()))
    assert planned is not None
    for upsets in (False, True):
        played = _played(build(fmt, params, SEED, OpenSkillRatings()), upsets)
        assert played == planned if exact else 0 < played <= planned


def test_planned_matches_of_a_gauntlet_and_a_stored_ladder(factory: sessionmaker[Session]) -> None:
    params = TournamentParams(agents=AGENTS[:2], baselines=AGENTS[2:], rounds=3)
    gauntlet = build("gauntlet", params, SEED, OpenSkillRatings())
    assert planned_matches(gauntlet) == _played(gauntlet, upsets=False) == 6
    with factory() as session:
        ladder = create_tournament(
            session,
            owner_id=_owner(session),
            scenario=SCENARIO,
            format="ladder",
            agents=AGENTS,
            params={"rounds": 2000},
        )
        assert ladder.params["planned"] == 2000
        assert planned_of(ladder) == 2000
        ladder.params = {k: v for k, v in ladder.params.items() if k != "planned"}
        session.commit()  # as stored before planned was recorded: computed on read
        assert planned_of(ladder) == 2000
