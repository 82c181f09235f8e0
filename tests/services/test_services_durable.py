"""Durable tournaments: persisted before they run, resumed after a SIGKILL, on both databases."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import LocalExecutor
from devspark.arena.formats import TournamentFormat
from devspark.arena.match import MatchSpec
from devspark.arena.tournament import build_format, run_tournament
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from devspark.core.results import MatchResult
from devspark.rating.models import OpenSkillRatings
from devspark.rating.outcomes import Outcome
from devspark.sandbox import IsolationLevel
from devspark.services import durable
from devspark.services.durable import (
    DurableTournament,
    TournamentParams,
    cancel,
    create_tournament,
    run_tournament_durably,
)
from devspark.services.failures import PlayInterrupted, sweep_abandoned
from devspark.store.artifacts import ArtifactRef, ArtifactStore
from devspark.store.db import session_factory
from devspark.store.models import (
    MatchResultRow,
    MatchRow,
    RatingSnapshotRow,
    TournamentRow,
    UserRow,
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


def _spawn(db_url: str, tournament_id: uuid.UUID, delay: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DEVSPARK_TEST_MATCH_DELAY": str(delay)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), db_url, str(tournament_id)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
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
    while True:
        with factory() as session:
            before = _finished(session, tournament_id)
        if len(before) >= 3:
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
    assert 3 <= len(before) < total

    restarted = _spawn(db_url, tournament_id, delay=0.0)
    output, _ = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, output.decode()

    with factory() as session:
        _assert_complete(session, tournament_id, total)
        after = _finished(session, tournament_id)
        assert {key: after[key] for key in before} == before
        assert _standings(session, tournament_id) == _rounded(expected)


class SimulatedCrash(BaseException):
    """Stands for the process dying (SIGKILL): not an error any handler may catch."""


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
        # the match the crash interrupted is left running, as after a SIGKILL
        statuses = session.scalars(
            select(MatchRow.status).where(MatchRow.tournament_id == tournament_id)
        )
        assert "running" in set(statuses)

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
    run_tournament_durably(factory, tournament_id, executor)
    executor.close()
    assert len(executor.played) == 2
    with factory() as session:
        tournament = session.get(TournamentRow, tournament_id)
        assert tournament is not None and tournament.status == "cancelled"
        assert len(_finished(session, tournament_id)) == 2
        # nothing of it is left queued or running
        assert set(_statuses(session, tournament_id)) <= {"finished", "cancelled"}
    # a cancelled tournament is never resumed
    again = CrashingExecutor(budget=0)
    run_tournament_durably(factory, tournament_id, again)
    assert again.played == []


def test_rows_queued_after_the_cancel_end_cancelled_too(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    tournament_id = _create(factory)
    queue = durable._Runner.queue

    def queue_while_cancelled(self: Any, pairing: Any, row: MatchRow | None) -> MatchRow:
        with factory() as session:  # the cancel commits while the runner writes its batch
            if session.get(TournamentRow, tournament_id).status != "cancelled":  # type: ignore[union-attr]
                cancel(session, tournament_id)
        return queue(self, pairing, row)

    monkeypatch.setattr(durable._Runner, "queue", queue_while_cancelled)
    executor = CrashingExecutor(budget=10**6)
    assert run_tournament_durably(factory, tournament_id, executor) == "cancelled"
    executor.close()
    assert executor.played == []
    with factory() as session:
        statuses = _statuses(session, tournament_id)
    assert statuses == {"cancelled": sum(statuses.values())} and statuses["cancelled"] > 0


def test_finished_tournament_is_not_run_again_nor_cancelled(factory: sessionmaker[Session]) -> None:
    tournament_id = _create(factory)
    with LocalExecutor(workers=1) as executor:
        run_tournament_durably(factory, tournament_id, executor)
    idle = CrashingExecutor(budget=0)
    run_tournament_durably(factory, tournament_id, idle)
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
    assert statuses[-1] == "finished" and len(statuses) == -(-total // 5)
    with factory() as session:
        _assert_complete(session, tournament_id, total)
        assert _standings(session, tournament_id) == _rounded(expected)
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


def test_a_kept_tournament_goes_on_slice_after_slice(factory: sessionmaker[Session]) -> None:
    total, expected = _expected("swiss", 3)
    tournament_id = _create(factory, "swiss", 3)
    with LocalExecutor(workers=1) as executor:
        kept = DurableTournament(factory, tournament_id, executor)
        try:
            statuses = [kept.advance(4) for _ in range(-(-total // 4))]
        finally:
            kept.close()
    assert statuses[-1] == "finished" and set(statuses[:-1]) <= {"running"}
    with factory() as session:
        _assert_complete(session, tournament_id, total)
        assert _standings(session, tournament_id) == _rounded(expected)


def test_a_cancel_during_the_final_fit_wins(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    tournament_id = _create(factory, rounds=1)
    real = durable.build_leaderboards

    def cancel_meanwhile(*args: Any, **kwargs: Any) -> Any:
        with factory() as other:  # the API's cancel, while the runner fits the standings
            cancel(other, tournament_id)
        return real(*args, **kwargs)

    monkeypatch.setattr(durable, "build_leaderboards", cancel_meanwhile)
    with LocalExecutor(workers=1) as executor:
        assert run_tournament_durably(factory, tournament_id, executor) == "cancelled"
    with factory() as session:
        assert session.get(TournamentRow, tournament_id).status == "cancelled"  # type: ignore[union-attr]
        assert _standings(session, tournament_id) == []


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
        with pytest.raises(FailedPreconditionError, match="already failed: match"):
            cancel(session, tournament_id)
    again = CrashingExecutor(budget=0)  # a failed tournament is never played again
    assert run_tournament_durably(factory, tournament_id, again) == "failed"
    assert again.played == []


def test_a_result_that_cannot_be_stored_fails_the_match_and_the_tournament(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    class FullDisk(ArtifactStore):
        def put_bytes(self, data: bytes, kind: str) -> ArtifactRef:
            raise OSError(28, "No space left on device")

    tournament_id = _create(factory)
    executor = CrashingExecutor(budget=10**6)
    playback = durable.Playback(replays=FullDisk(tmp_path / "artifacts"))
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


def test_sweep_ends_matches_left_running_in_ended_tournaments(
    factory: sessionmaker[Session],
) -> None:
    stuck = _create(factory)
    live = _create(factory)
    for tournament_id in (stuck, live):
        executor = CrashingExecutor(budget=1)
        with pytest.raises(SimulatedCrash):  # leaves its second match running
            run_tournament_durably(factory, tournament_id, executor)
        executor.close()
    with factory() as session:
        row = session.get(TournamentRow, stuck)
        assert row is not None
        row.status = "cancelled"  # cancelled while no runner was playing it
        session.commit()
    assert sweep_abandoned(factory) == 1
    with factory() as session:
        assert _statuses(session, stuck) == {"finished": 1, "failed": 1}
        assert _statuses(session, live) == {"finished": 1, "running": 1}  # resumed later
        error = session.scalar(
            select(MatchRow.error).where(
                MatchRow.tournament_id == stuck, MatchRow.status == "failed"
            )
        )
        assert error is not None and error.startswith("abandoned:")


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
    planned = durable.planned_matches(durable.build(fmt, params, SEED, OpenSkillRatings()))
    assert planned is not None
    for upsets in (False, True):
        played = _played(durable.build(fmt, params, SEED, OpenSkillRatings()), upsets)
        assert played == planned if exact else 0 < played <= planned


def test_planned_matches_of_a_gauntlet_and_a_stored_ladder(factory: sessionmaker[Session]) -> None:
    params = TournamentParams(agents=AGENTS[:2], baselines=AGENTS[2:], rounds=3)
    gauntlet = durable.build("gauntlet", params, SEED, OpenSkillRatings())
    assert durable.planned_matches(gauntlet) == _played(gauntlet, upsets=False) == 6
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
        assert durable.planned_of(ladder) == 2000
        ladder.params = {k: v for k, v in ladder.params.items() if k != "planned"}
        session.commit()  # as stored before planned was recorded: computed on read
        assert durable.planned_of(ladder) == 2000
