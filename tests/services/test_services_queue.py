"""The work queue: fair and paced claims, no double claims, reaped leases, lost claims.

Every test runs on SQLite and on PostgreSQL (where claims use ``FOR UPDATE SKIP
LOCKED``). Tournaments are driven by :func:`~devspark.services.durable.advance`, which
queues a round's matches as rows; workers take them with
:func:`~devspark.services.queue.claim_match`.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import LocalExecutor
from devspark.sandbox import IsolationLevel
from devspark.services.durable import advance
from devspark.services.matches import create_match
from devspark.services.playing import match_spec, store_result
from devspark.services.queue import (
    Claim,
    WorkerIdentity,
    claim_match,
    heartbeat,
    reap,
    register_worker,
)
from devspark.services.tournaments import (
    TournamentParams,
    cancel,
    create_tournament,
    start_tournament,
)
from devspark.store.db import session_factory
from devspark.store.models import (
    MatchResultRow,
    MatchRow,
    TournamentRow,
    UserRow,
    WorkerRow,
    utcnow,
)

AGENTS = (
    "builtin:connect-four-alphabeta",
    "builtin:connect-four-heuristic",
    "builtin:random",
)
LEASE_S = 15.0


@pytest.fixture
def factory(migrated: Engine) -> sessionmaker[Session]:
    return session_factory(migrated)


@pytest.fixture
def owner(factory: sessionmaker[Session]) -> uuid.UUID:
    with factory() as session:
        user = UserRow(username=f"owner-{uuid.uuid4().hex[:8]}", role="user")
        session.add(user)
        session.commit()
        return user.id


def _worker(factory: sessionmaker[Session], name: str) -> uuid.UUID:
    with factory() as session:
        return register_worker(session, WorkerIdentity.here(name))


def _tournament(
    factory: sessionmaker[Session], owner: uuid.UUID, *, pace_s: float = 0.0
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A running double elimination whose first round (two matches) is queued."""
    with factory() as session:
        row = create_tournament(
            session,
            owner_id=owner,
            scenario="connect_four",
            format="double_elimination",
            agents=AGENTS,
            params=TournamentParams(
                agents=(), rounds=3, isolation=IsolationLevel.TRUSTED, pace_s=pace_s
            ),
            seed=3,
        )
        start_tournament(session, row.id)
        assert advance(session, row.id) == "running"
        queued = list(
            session.scalars(
                select(MatchRow.id)
                .where(MatchRow.tournament_id == row.id, MatchRow.status == "queued")
                .order_by(MatchRow.created_at, MatchRow.id)
            )
        )
    assert len(queued) == 2
    return row.id, queued


def _own_match(factory: sessionmaker[Session], owner: uuid.UUID, seed: int = 0) -> uuid.UUID:
    with factory() as session:
        return create_match(
            session,
            owner_id=owner,
            scenario="tictactoe",
            agents=["builtin:random", "builtin:minimax"],
            seed=seed,
            isolation=IsolationLevel.TRUSTED,
        ).id


def _claim(factory: sessionmaker[Session], worker_id: uuid.UUID, **narrow: uuid.UUID) -> Claim:
    with factory() as session:
        claim = claim_match(session, worker_id, **narrow)
    assert claim is not None
    return claim


def _silence(factory: sessionmaker[Session], worker_id: uuid.UUID, seconds: float) -> None:
    """Make the worker's last heartbeat ``seconds`` old (a worker that died then)."""
    with factory() as session:
        session.execute(
            update(WorkerRow)
            .where(WorkerRow.id == worker_id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )
        session.commit()


def _match(factory: sessionmaker[Session], match_id: uuid.UUID) -> MatchRow:
    with factory() as session:
        row = session.get(MatchRow, match_id)
        assert row is not None
        return row


def test_a_claim_marks_the_match_running_with_the_worker(
    factory: sessionmaker[Session], owner: uuid.UUID
) -> None:
    match_id = _own_match(factory, owner)
    worker_id = _worker(factory, "w1")
    claim = _claim(factory, worker_id)
    assert (claim.match_id, claim.tournament_id) == (match_id, None)
    assert claim.claim_ms >= 0
    row = _match(factory, match_id)
    assert (row.status, row.worker_id) == ("running", worker_id)
    assert row.started_at is not None
    with factory() as session:  # nothing else is queued
        assert claim_match(session, worker_id) is None


def test_a_match_of_its_own_is_claimed_before_a_long_tournaments_second_match(
    factory: sessionmaker[Session], owner: uuid.UUID
) -> None:
    tournament_id, (first, second) = _tournament(factory, owner)
    own = _own_match(factory, owner)  # created after the tournament's rows
    worker_id = _worker(factory, "w1")
    claims = [_claim(factory, worker_id) for _ in range(3)]
    assert [c.match_id for c in claims] == [first, own, second]
    assert [c.tournament_id for c in claims] == [tournament_id, None, tournament_id]


def test_a_paced_tournaments_second_match_waits_for_next_play_at(
    factory: sessionmaker[Session], owner: uuid.UUID
) -> None:
    tournament_id, (first, second) = _tournament(factory, owner, pace_s=3600.0)
    worker_id = _worker(factory, "w1")
    assert _claim(factory, worker_id).match_id == first
    with factory() as session:
        paced = session.get(TournamentRow, tournament_id)
        assert paced is not None and paced.next_play_at is not None
        assert paced.next_play_at > utcnow() + timedelta(seconds=3000)
        assert claim_match(session, worker_id) is None
        assert claim_match(session, worker_id, tournament_id=tournament_id) is None
        assert claim_match(session, worker_id, match_id=second) is None
    assert _match(factory, second).status == "queued"
    with factory() as session:  # the pace has elapsed
        session.execute(
            update(TournamentRow)
            .where(TournamentRow.id == tournament_id)
            .values(next_play_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    assert _claim(factory, worker_id).match_id == second


def test_a_cancelled_tournaments_queued_match_is_never_claimed(
    factory: sessionmaker[Session], owner: uuid.UUID
) -> None:
    tournament_id, queued = _tournament(factory, owner)
    with factory() as session:  # cancelled, its rows not yet ended (a batch raced it)
        session.execute(
            update(TournamentRow)
            .where(TournamentRow.id == tournament_id)
            .values(status="cancelled", finished_at=utcnow())
        )
        session.commit()
    worker_id = _worker(factory, "w1")
    with factory() as session:
        assert claim_match(session, worker_id) is None
        assert claim_match(session, worker_id, tournament_id=tournament_id) is None
        for match_id in queued:
            assert claim_match(session, worker_id, match_id=match_id) is None
    assert {_match(factory, m).status for m in queued} == {"queued"}


def test_two_workers_claiming_at_once_never_take_the_same_match(
    factory: sessionmaker[Session], owner: uuid.UUID
) -> None:
    matches = {_own_match(factory, owner, seed) for seed in range(12)}
    workers = [_worker(factory, f"w{i}") for i in range(2)]
    taken: dict[uuid.UUID, list[uuid.UUID]] = {w: [] for w in workers}
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def drain(worker_id: uuid.UUID) -> None:
        try:
            start.wait(timeout=10)
            with factory() as session:  # a session (a connection) per worker
                while (claim := claim_match(session, worker_id)) is not None:
                    taken[worker_id].append(claim.match_id)
        except BaseException as exc:  # reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    every = [m for claims in taken.values() for m in claims]
    assert len(every) == len(set(every)) == len(matches)  # each match claimed once
    assert set(every) == matches
    for worker_id, claims in taken.items():
        with factory() as session:
            held = set(
                session.scalars(
                    select(MatchRow.id).where(
                        MatchRow.worker_id == worker_id, MatchRow.status == "running"
                    )
                )
            )
        assert held == set(claims)


def test_reap_gives_a_silent_workers_match_back_to_the_queue(
    factory: sessionmaker[Session], owner: uuid.UUID
) -> None:
    dead_match, live_match = _own_match(factory, owner, 1), _own_match(factory, owner, 2)
    dead, alive = _worker(factory, "dead"), _worker(factory, "alive")
    assert _claim(factory, dead, match_id=dead_match).match_id == dead_match
    assert _claim(factory, alive, match_id=live_match).match_id == live_match
    _silence(factory, dead, LEASE_S + 5)
    _silence(factory, alive, LEASE_S - 5)  # late, but within its lease
    with factory() as session:
        assert reap(session, LEASE_S) == 1
        states = {i: s for i, s in session.execute(select(WorkerRow.id, WorkerRow.state))}
    assert states == {dead: "offline", alive: "idle"}
    requeued = _match(factory, dead_match)
    assert (requeued.status, requeued.worker_id, requeued.started_at) == ("queued", None, None)
    kept = _match(factory, live_match)
    assert (kept.status, kept.worker_id) == ("running", alive)
    # the match is anyone's again
    assert _claim(factory, alive).match_id == dead_match


def test_a_dead_workers_match_of_an_ended_tournament_ends_failed_abandoned(
    factory: sessionmaker[Session], owner: uuid.UUID
) -> None:
    tournament_id, (first, second) = _tournament(factory, owner)
    dead = _worker(factory, "dead")
    assert _claim(factory, dead).match_id == first
    with factory() as session:
        cancel(session, tournament_id)  # the match in play is left to finish
    assert _match(factory, second).status == "cancelled"
    assert _match(factory, first).status == "running"
    _silence(factory, dead, LEASE_S + 5)  # ...but its worker died
    with factory() as session:
        assert reap(session, LEASE_S) == 0  # nothing to play again
    abandoned = _match(factory, first)
    assert (abandoned.status, abandoned.worker_id) == ("failed", None)
    assert abandoned.finished_at is not None
    assert abandoned.error is not None and abandoned.error.startswith("abandoned: ")


def test_a_worker_that_lost_its_claim_stores_nothing(
    factory: sessionmaker[Session], owner: uuid.UUID
) -> None:
    match_id = _own_match(factory, owner)
    late, other = _worker(factory, "late"), _worker(factory, "other")
    _claim(factory, late)
    with factory() as session, LocalExecutor(workers=1) as executor:
        row = session.get(MatchRow, match_id)
        assert row is not None
        (result,) = executor.map([match_spec(session, row)])
        session.rollback()
        _silence(factory, late, LEASE_S + 5)  # it played too long without a heartbeat
        with factory() as reaper:
            assert reap(reaper, LEASE_S) == 1
        assert _claim(factory, other).match_id == match_id  # another worker took it
        session.refresh(row)
        assert store_result(session, row, result, worker_id=late) is False
    with factory() as session:
        assert session.scalars(select(MatchResultRow)).all() == []
    kept = _match(factory, match_id)
    assert (kept.status, kept.worker_id, kept.finished_at) == ("running", other, None)


def test_heartbeat_says_false_once_the_worker_was_reaped(
    factory: sessionmaker[Session],
) -> None:
    worker_id = _worker(factory, "w1")
    with factory() as session:
        assert heartbeat(session, worker_id, state="busy", in_flight=1, played=0) is True
    _silence(factory, worker_id, LEASE_S + 5)
    with factory() as session:
        reap(session, LEASE_S)
        assert session.get(WorkerRow, worker_id).state == "offline"  # type: ignore[union-attr]
    with factory() as session:
        assert heartbeat(session, worker_id, state="idle", in_flight=0, played=3) is False
        row = session.get(WorkerRow, worker_id)
        assert row is not None and (row.state, row.matches_played) == ("idle", 3)
        assert heartbeat(session, worker_id, state="idle", in_flight=0, played=3) is True
        assert heartbeat(session, uuid.uuid4(), state="idle", in_flight=0, played=0) is False
