"""Helpers shared by the worker tests: rows to play, a gate on play, waiting on the database."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import LocalExecutor
from devspark.arena.match import MatchSpec
from devspark.core.isolation import IsolationLevel
from devspark.core.results import MatchResult
from devspark.services.matches import create_match
from devspark.services.tournaments import create_tournament, start_tournament
from devspark.store.models import MatchRow, TournamentRow, UserRow, WorkerRow
from devspark.testing.waiting import wait_until
from devspark.worker.engine import Worker, WorkerConfig

AGENTS = ["builtin:minimax", "builtin:random"]

FAST = {"poll_s": 0.05, "heartbeat_s": 0.2, "lease_s": 1.0}
"""Timings short enough that a lease runs out within a test."""


def make_worker(
    made: sessionmaker[Session],
    engine: Engine,
    data_dir: Path,
    *,
    executor_factory: Callable[[], Any] | None = None,
    say: Callable[[str], None] | None = None,
    service_workers: Callable[[Any], Any] | None = None,
    **config: Any,
) -> Worker:
    """A worker with short timings (``config`` overrides :data:`FAST`), not started."""
    return Worker(
        made,
        engine,
        data_dir,
        config=WorkerConfig(**{**FAST, **config}),
        executor_factory=executor_factory,
        say=say,
        service_workers=service_workers,
    )


def owner(made: sessionmaker[Session]) -> uuid.UUID:
    """The id of the user ``owner`` (created on first use)."""
    with made() as session:
        found = session.scalars(select(UserRow).where(UserRow.username == "owner")).first()
        if found is None:
            found = UserRow(username="owner", role="user")
            session.add(found)
            session.commit()
        return found.id


def queued_match(made: sessionmaker[Session], seed: int = 0) -> uuid.UUID:
    """A tic-tac-toe match of its own, ``queued`` (trusted isolation: played in this process)."""
    who = owner(made)
    with made() as session:
        row = create_match(
            session,
            owner_id=who,
            scenario="tictactoe",
            agents=AGENTS,
            seed=seed,
            isolation=IsolationLevel.TRUSTED,
        )
        return row.id


def running_tournament(
    made: sessionmaker[Session], fmt: str = "round_robin", **params: Any
) -> uuid.UUID:
    """A tic-tac-toe tournament of :data:`AGENTS`, started (``running``, nothing queued yet)."""
    who = owner(made)
    with made() as session:
        row = create_tournament(
            session,
            owner_id=who,
            scenario="tictactoe",
            format=fmt,
            agents=AGENTS,
            params={"isolation": "trusted", "bootstrap": 20, **params},
        )
        start_tournament(session, row.id)
        return row.id


def match_status(made: sessionmaker[Session], match_id: uuid.UUID) -> tuple[str, str | None]:
    """A match's status and error."""
    with made() as session:
        row = session.get(MatchRow, match_id)
        assert row is not None
        return row.status, row.error


def tournament_status(made: sessionmaker[Session], tid: uuid.UUID) -> tuple[str, str | None]:
    """A tournament's status and error."""
    with made() as session:
        row = session.get(TournamentRow, tid)
        assert row is not None
        return row.status, row.error


def matches_of(made: sessionmaker[Session], tid: uuid.UUID) -> list[MatchRow]:
    """A tournament's match rows, oldest first (detached)."""
    with made() as session:
        rows = list(
            session.scalars(
                select(MatchRow).where(MatchRow.tournament_id == tid).order_by(MatchRow.created_at)
            )
        )
        session.expunge_all()
        return rows


def finished_count(made: sessionmaker[Session], tid: uuid.UUID) -> int:
    """How many of a tournament's matches finished."""
    return sum(row.status == "finished" for row in matches_of(made, tid))


def worker_row(made: sessionmaker[Session], worker_id: uuid.UUID | None) -> WorkerRow:
    """A worker's row (detached)."""
    assert worker_id is not None
    with made() as session:
        row = session.get(WorkerRow, worker_id)
        assert row is not None
        session.expunge(row)
        return row


def wait_finished(made: sessionmaker[Session], tid: uuid.UUID, timeout: float = 60.0) -> None:
    """Wait until a tournament is ``finished`` (fails at once if it failed)."""

    def done() -> bool:
        status, error = tournament_status(made, tid)
        assert status != "failed", error
        return status == "finished"

    wait_until(done, f"tournament {tid} to finish", timeout)


class GatedExecutor:
    """Plays in this process, but each match waits at a gate until the test opens it.

    ``entered`` is set when a match reaches the gate: the worker holds it ``running``.
    """

    def __init__(self) -> None:
        self.inner = LocalExecutor(workers=1)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        """Wait at the gate, then play ``specs``."""
        self.entered.set()
        assert self.gate.wait(60), "the test never opened the gate"
        yield from self.inner.map(specs)

    def close(self) -> None:
        """Close the inner executor."""
        self.inner.close()
