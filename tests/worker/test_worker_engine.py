"""The worker engine on SQLite and PostgreSQL: it plays, resumes, shares, paces, fails and drains.

Every test runs a real :class:`~devspark.worker.engine.Worker` (short heartbeat and lease)
on a migrated database, with built-in tic-tac-toe agents in ``trusted`` isolation, and
waits on the database or on the worker's own events, never on a fixed sleep.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from worker_helpers import (
    GatedExecutor,
    finished_count,
    make_worker,
    match_status,
    matches_of,
    queued_match,
    running_tournament,
    tournament_status,
    wait_finished,
    wait_until,
    worker_row,
)

from devspark.scenarios.tictactoe import TicTacToe
from devspark.services.durable import advance
from devspark.services.queue import WorkerIdentity, claim_match, register_worker
from devspark.services.tournaments import cancel
from devspark.store.db import session_factory
from devspark.store.models import MatchResultRow, MatchRow, TournamentRow, WorkerRow
from devspark.worker.engine import Worker

BOOM = "the board caught fire at reset"


@pytest.fixture
def made(migrated: Engine) -> sessionmaker[Session]:
    return session_factory(migrated)


@pytest.fixture
def worker(made: sessionmaker[Session], migrated: Engine, tmp_path: Path) -> Iterator[Worker]:
    """A started worker with one slot."""
    started = make_worker(made, migrated, tmp_path)
    started.start()
    yield started
    started.stop()


def _dead_worker(made: sessionmaker[Session]) -> uuid.UUID:
    """A worker that registered and then died (it never beats again)."""
    with made() as session:
        return register_worker(session, WorkerIdentity.here("dead"))


def _claimed_by_the_dead(made: sessionmaker[Session], dead: uuid.UUID) -> uuid.UUID:
    with made() as session:
        claim = claim_match(session, dead)
    assert claim is not None
    return claim.match_id


def _results(made: sessionmaker[Session], match_id: uuid.UUID) -> int:
    with made() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(MatchResultRow)
                .where(MatchResultRow.match_id == match_id)
            )
            or 0
        )


# --- playing and resuming ---------------------------------------------------------------


def test_a_queued_match_is_played_and_stored(made: sessionmaker[Session], worker: Worker) -> None:
    match_id = queued_match(made)
    worker.notify()
    wait_until(lambda: match_status(made, match_id)[0] == "finished", "the match to finish")
    assert _results(made, match_id) == 2
    with made() as session:
        row = session.get(MatchRow, match_id)
        assert row is not None and row.worker_id == worker.worker_id and row.steps
    wait_until(lambda: worker.played == 1, "the worker to count it")


def test_a_match_held_by_a_dead_worker_is_played_again_after_its_lease(
    made: sessionmaker[Session], migrated: Engine, tmp_path: Path
) -> None:
    queued = queued_match(made)
    dead = _dead_worker(made)
    match_id = _claimed_by_the_dead(made, dead)
    assert match_id == queued and match_status(made, match_id) == ("running", None)
    died_at = worker_row(made, dead).heartbeat_at
    alive = make_worker(made, migrated, tmp_path)  # lease_s=1.0
    alive.start()
    try:
        wait_until(lambda: match_status(made, match_id)[0] == "finished", "the replayed match")
    finally:
        alive.stop()
    with made() as session:
        row = session.get(MatchRow, match_id)
        assert row is not None and row.worker_id == alive.worker_id
        assert row.started_at is not None
        assert row.started_at >= died_at + timedelta(seconds=1.0)  # not before the lease ran out
    assert _results(made, match_id) == 2  # stored once
    gone = worker_row(made, dead)
    assert gone.state == "offline" and gone.stopped_at == gone.heartbeat_at


def test_a_tournament_left_running_by_a_dead_worker_is_finished_with_each_pairing_once(
    made: sessionmaker[Session], migrated: Engine, tmp_path: Path
) -> None:
    tid = running_tournament(made, rounds=2)  # 4 matches
    dead = _dead_worker(made)
    with made() as session:
        advance(session, tid)  # the dead worker queued the first round...
    held = _claimed_by_the_dead(made, dead)  # ...and died playing one of its matches
    alive = make_worker(made, migrated, tmp_path)
    alive.start()
    try:
        wait_finished(made, tid)
    finally:
        alive.stop()
    rows = matches_of(made, tid)
    pairings = Counter(
        (r.options["pairing"]["round"], tuple(r.options["pairing"]["agents"]), r.seed) for r in rows
    )
    assert len(rows) == 4 and set(pairings.values()) == {1}
    assert all(r.status == "finished" and r.worker_id == alive.worker_id for r in rows)
    assert held in {r.id for r in rows} and _results(made, held) == 2
    with made() as session:
        tournament = session.get(TournamentRow, tid)
        assert tournament is not None and tournament.finished_at is not None


def test_a_match_left_running_in_a_cancelled_tournament_ends_abandoned(
    made: sessionmaker[Session], worker: Worker
) -> None:
    tid = running_tournament(made, rounds=1)
    worker.pause()
    with made() as session:
        advance(session, tid)
    dead = _dead_worker(made)
    held = _claimed_by_the_dead(made, dead)
    with made() as session:
        cancel(session, tid)
    worker.resume()
    wait_until(lambda: match_status(made, held)[0] == "failed", "the abandoned match to end")
    assert (match_status(made, held)[1] or "").startswith("abandoned: its tournament ended")
    statuses = Counter(r.status for r in matches_of(made, tid))
    assert statuses["failed"] == 1 and set(statuses) <= {"failed", "cancelled"}
    assert tournament_status(made, tid)[0] == "cancelled"


def test_a_tournament_started_while_the_worker_runs_is_played(
    made: sessionmaker[Session], worker: Worker
) -> None:
    wait_until(lambda: worker.worker_id, "the worker to register")
    tid = running_tournament(made, rounds=1)  # started through another process's API
    wait_finished(made, tid)
    assert finished_count(made, tid) == 2


# --- sharing the queue ------------------------------------------------------------------


def test_a_match_created_after_a_long_ladder_started_is_played_before_the_ladder_ends(
    made: sessionmaker[Session], worker: Worker
) -> None:
    ladder = running_tournament(made, "ladder", rounds=2000)
    wait_until(lambda: finished_count(made, ladder) >= 2, "the ladder to be under way")
    match_id = queued_match(made)
    wait_until(lambda: match_status(made, match_id)[0] == "finished", "the match to be played")
    played_meanwhile = finished_count(made, ladder)
    assert tournament_status(made, ladder)[0] == "running"
    assert played_meanwhile < 50  # it waited a turn or two, not for 2000 matches
    with made() as session:
        cancel(session, ladder)


def test_two_tournaments_take_turns(made: sessionmaker[Session], worker: Worker) -> None:
    worker.pause()
    long = running_tournament(made, rounds=12)  # 24 matches
    short = running_tournament(made, rounds=1)  # 2 matches, started after it
    worker.resume()
    wait_finished(made, short)
    assert finished_count(made, long) < 24  # the short one did not wait for it
    wait_finished(made, long)


def test_a_paced_tournament_starts_its_matches_at_least_pace_apart(
    made: sessionmaker[Session], migrated: Engine, tmp_path: Path
) -> None:
    tid = running_tournament(made, rounds=3, pace_s=0.3)  # 6 matches
    busy = make_worker(made, migrated, tmp_path, slots=2)  # two slots: pace holds across them
    busy.start()
    try:
        wait_finished(made, tid)
    finally:
        busy.stop()
    starts = sorted(r.started_at for r in matches_of(made, tid) if r.started_at is not None)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 5 and min(gaps) >= 0.3, gaps


# --- failures ---------------------------------------------------------------------------


@pytest.fixture
def exploding_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tic-tac-toe raises at reset (trusted agents play in the worker's own process)."""

    def explode(self: TicTacToe, options: dict[str, Any]) -> None:
        raise RuntimeError(BOOM)

    monkeypatch.setattr(TicTacToe, "_new_episode", explode)


def _running(made: sessionmaker[Session]) -> int:
    with made() as session:
        return (
            session.scalar(
                select(func.count()).select_from(MatchRow).where(MatchRow.status == "running")
            )
            or 0
        )


def test_a_match_whose_play_raises_ends_failed_with_the_reason_and_is_not_replayed(
    made: sessionmaker[Session], worker: Worker, exploding_reset: None
) -> None:
    match_id = queued_match(made)
    wait_until(lambda: match_status(made, match_id)[0] == "failed", "the match to fail")
    assert match_status(made, match_id)[1] == f"RuntimeError: {BOOM}"
    assert _results(made, match_id) == 0 and worker.played == 0
    with made() as session:
        row = session.get(MatchRow, match_id)
        assert row is not None and row.finished_at is not None and row.replay_ref is None
    assert _running(made) == 0


def test_a_tournament_whose_match_raises_ends_failed_naming_the_match(
    made: sessionmaker[Session], worker: Worker, exploding_reset: None
) -> None:
    tid = running_tournament(made)
    wait_until(lambda: tournament_status(made, tid)[0] == "failed", "the tournament to fail")
    error = tournament_status(made, tid)[1] or ""
    rows = matches_of(made, tid)
    failed = [r for r in rows if r.status == "failed"]
    assert len(failed) == 1 and failed[0].error == f"RuntimeError: {BOOM}"
    assert error.startswith(f"match {failed[0].id} (")
    assert error.endswith(f"failed: RuntimeError: {BOOM}")
    assert all(r.status in ("failed", "cancelled") for r in rows)  # nothing left to play
    assert _running(made) == 0


def test_work_stored_with_options_the_scenario_refuses_fails_with_the_option_named(
    made: sessionmaker[Session], worker: Worker
) -> None:
    worker.pause()
    tid = running_tournament(made)
    match_id = queued_match(made)
    with made() as session:  # as stored before options were checked when created
        tournament = session.get(TournamentRow, tid)
        match = session.get(MatchRow, match_id)
        assert tournament is not None and match is not None
        tournament.params = {**tournament.params, "options": {"difficulty": 9}}
        match.options = {**match.options, "reset": {"dificulty": 2}}
        session.commit()
    worker.resume()
    wait_until(lambda: tournament_status(made, tid)[0] == "failed", "the tournament to fail")
    wait_until(lambda: match_status(made, match_id)[0] == "failed", "the match to fail")
    assert "options.difficulty=9 is not allowed by tictactoe-v1" in (
        tournament_status(made, tid)[1] or ""
    )
    match_error = match_status(made, match_id)[1] or ""
    assert "options.dificulty is not an option of tictactoe-v1" in match_error
    assert "did you mean `difficulty`?" in match_error
    assert _running(made) == 0


def test_a_warm_slot_refuses_stored_options_the_scenario_refuses(
    made: sessionmaker[Session], worker: Worker
) -> None:
    first = queued_match(made, seed=1)
    worker.notify()
    wait_until(lambda: match_status(made, first)[0] == "finished", "a first match to warm the slot")
    worker.pause()
    match_id = queued_match(made, seed=2)
    with made() as session:  # as stored before options were checked when created
        match = session.get(MatchRow, match_id)
        assert match is not None
        match.options = {**match.options, "reset": {"dificulty": 2}}
        session.commit()
    worker.resume()
    wait_until(
        lambda: match_status(made, match_id)[0] in ("finished", "failed"), "the match to end"
    )
    status, error = match_status(made, match_id)
    assert status == "failed"
    assert "options.dificulty is not an option of tictactoe-v1" in (error or "")


def test_a_tournament_whose_format_cannot_be_rebuilt_ends_failed(
    made: sessionmaker[Session], worker: Worker
) -> None:
    worker.pause()
    tid = running_tournament(made)
    with made() as session:
        session.execute(
            update(TournamentRow).where(TournamentRow.id == tid).values(format="knockout")
        )  # a format this worker does not know
        session.commit()
    worker.resume()
    wait_until(lambda: tournament_status(made, tid)[0] == "failed", "the tournament to fail", 10)
    error = tournament_status(made, tid)[1] or ""
    assert (
        error.startswith("its format cannot be rebuilt: invalid_argument: ") and "knockout" in error
    )
    assert matches_of(made, tid) == []


# --- drain, pause, resume ---------------------------------------------------------------


def test_drain_finishes_the_match_in_flight_claims_nothing_new_and_goes_offline(
    made: sessionmaker[Session], migrated: Engine, tmp_path: Path
) -> None:
    gated = GatedExecutor()
    draining = make_worker(made, migrated, tmp_path, executor_factory=lambda: gated)
    first, second = queued_match(made, seed=1), queued_match(made, seed=2)
    draining.start()
    try:
        assert gated.entered.wait(30), "no match was claimed"
        in_flight = next(m for m in (first, second) if match_status(made, m)[0] == "running")
        waiting = second if in_flight == first else first
        assert draining.in_flight == 1 and draining.state == "busy"
        draining.drain()
        assert draining.state == "draining"
        wait_until(
            lambda: worker_row(made, draining.worker_id).state == "draining",
            "the worker row to say draining",
        )
        gated.gate.set()
        assert draining.wait_stopped(30)
    finally:
        gated.gate.set()
        draining.stop()
    assert match_status(made, in_flight) == ("finished", None) and _results(made, in_flight) == 2
    assert match_status(made, waiting) == ("queued", None)  # never claimed
    row = worker_row(made, draining.worker_id)
    assert row.state == "offline" and row.in_flight == 0 and row.matches_played == 1
    assert row.stopped_at is not None
    assert draining.state == "offline" and draining.played == 1


def test_a_paused_worker_claims_nothing_until_resumed(
    made: sessionmaker[Session], worker: Worker
) -> None:
    wait_until(lambda: worker.worker_id, "the worker to register")
    worker.pause()
    match_id = queued_match(made)
    worker.notify()
    beats: list[object] = []

    def two_more_beats() -> bool:  # slots poll several times between two heartbeats
        at = worker_row(made, worker.worker_id).heartbeat_at
        if not beats or beats[-1] != at:
            beats.append(at)
        return len(beats) >= 3

    wait_until(two_more_beats, "two heartbeats")
    assert match_status(made, match_id) == ("queued", None)
    assert worker.state == "idle"
    worker.resume()
    wait_until(lambda: match_status(made, match_id)[0] == "finished", "the match after resume")


def test_the_worker_row_shows_who_plays_and_what(
    made: sessionmaker[Session], migrated: Engine, tmp_path: Path
) -> None:
    named = make_worker(made, migrated, tmp_path, name="bench-1", slots=2)
    named.start()
    try:
        wait_until(lambda: named.worker_id, "the worker to register")
        match_id = queued_match(made)
        wait_until(lambda: match_status(made, match_id)[0] == "finished", "the match")
        wait_until(lambda: worker_row(made, named.worker_id).matches_played == 1, "a heartbeat")
    finally:
        named.stop()
    with made() as session:
        row = session.scalars(select(WorkerRow).where(WorkerRow.name == "bench-1")).one()
    assert (row.slots, row.executor, row.state) == (2, "local", "offline")
