"""What advancing a long durable ladder costs a worker: with its book kept, or fresh.

A worker drives each tournament through :func:`devspark.services.durable.advance`
after every match it stores: the format's state is kept between two calls in the
worker's :class:`~devspark.services.durable.TournamentBooks`, so an advance costs the
match it records and the row it queues. A worker that did not play the history (it
just started, or another worker went on meanwhile) has no book, or a stale one: its
advance first rebuilds the format by replaying every finished match from the database.

Plays ``--finished`` matches (default 1,000) of a tic-tac-toe ladder between
``builtin:random`` and ``builtin:minimax`` (trusted isolation: the match itself is
cheap, so the figure is the bookkeeping's) into a fresh SQLite database with the steps
a worker takes, then for ``--slices`` more matches (default 9, medians reported) times:

* kept: ``advance`` with the book that has seen every row (records the match just
  played and queues the next);
* fresh: ``advance`` with an empty ``TournamentBooks`` (what a worker that did not play
  the history pays: the replay, then nothing to do while the match is queued);
* baseline: the same match spec played by the same executor, no database.

Reported: the kept advance (target: at most 100 ms, set here: a small part of the 2 s
pace of the ladder a new server seeds) and the replay cost per finished match,
(fresh - kept) / finished (target: at most 1 ms per match, set here, so a worker new to
a ladder of 10,000 matches catches up in about 10 s).
Prints one JSON object: finished, kept_advance_ms, fresh_advance_ms, bare_match_ms,
replay_ms_per_finished_match and the judged figures (target, met, ratio).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _util import emit, figure, machine

AGENTS = ("builtin:random", "builtin:minimax")
SCENARIO = "tictactoe"
TARGET_REPLAY_MS = 1.0
TARGET_KEPT_MS = 100.0


def setup(folder: Path, finished: int, slices: int) -> tuple[Any, uuid.UUID, Any]:
    """A migrated SQLite database with one ladder tournament and its owner."""
    from devspark.sandbox import IsolationLevel
    from devspark.services.tournaments import TournamentParams, create_tournament
    from devspark.store.db import make_engine, session_factory, upgrade
    from devspark.store.models import UserRow

    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    factory = session_factory(engine)
    with factory() as session:
        owner = UserRow(username="bench-owner", role="admin")
        session.add(owner)
        session.commit()
        tournament = create_tournament(
            session,
            owner_id=owner.id,
            scenario=SCENARIO,
            format="ladder",
            agents=list(AGENTS),
            params=TournamentParams(
                agents=(),
                rounds=finished + 3 * slices,
                isolation=IsolationLevel.TRUSTED,
                bootstrap=0,
            ),
            seed=1,
        ).id
    return engine, tournament, factory


def timed_ms(action: Callable[[], object]) -> float:
    """Milliseconds ``action`` took."""
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    """Play the history, time the advances and the bare match, print the figures."""
    from devspark.arena.executors import LocalExecutor
    from devspark.arena.match import MatchSpec
    from devspark.sandbox import IsolationLevel
    from devspark.services.durable import TournamentBooks, advance, run_tournament_durably
    from devspark.services.playing import play_claimed
    from devspark.services.queue import WorkerIdentity, claim_match, register_worker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", type=int, default=1000, help="matches played first")
    parser.add_argument("--slices", type=int, default=9, help="matches whose advance is timed")
    args = parser.parse_args()
    load = machine()
    with tempfile.TemporaryDirectory() as tmp, LocalExecutor(workers=1) as executor:
        engine, tournament_id, factory = setup(Path(tmp), args.finished, args.slices)
        try:
            started = time.perf_counter()
            status = run_tournament_durably(
                factory, tournament_id, executor, max_matches=args.finished
            )
            assert status == "running", status
            history_s = time.perf_counter() - started
            kept = TournamentBooks()

            def advance_with(books: TournamentBooks) -> None:
                with factory() as session:
                    assert advance(session, tournament_id, books) == "running"

            advance_with(kept)  # the worker's book: built once, from the history
            with factory() as session:
                worker_id = register_worker(session, WorkerIdentity.here("bench"))
            kept_ms: list[float] = []
            fresh_ms: list[float] = []
            for _ in range(args.slices):
                with factory() as session:
                    claim = claim_match(session, worker_id, tournament_id=tournament_id)
                assert claim is not None
                played = play_claimed(factory, claim.match_id, worker_id, executor)
                assert played.result is not None, played
                kept_ms.append(timed_ms(lambda: advance_with(kept)))
                fresh_ms.append(timed_ms(lambda: advance_with(TournamentBooks())))
            spec = MatchSpec(SCENARIO, AGENTS, seed=1, isolation=IsolationLevel.TRUSTED)
            bare_ms = [timed_ms(lambda: list(executor.map([spec]))) for _ in range(args.slices)]
        finally:
            engine.dispose()
    kept_p50, fresh_p50, bare_p50 = map(statistics.median, (kept_ms, fresh_ms, bare_ms))
    finished = args.finished + args.slices // 2  # the history grew while timed
    per_match = (fresh_p50 - kept_p50) / finished
    print(f"{args.finished} finished matches played in {history_s:.1f} s (the history)")
    print(f"advance, kept TournamentBooks:           p50 {kept_p50:8.1f} ms")
    print(f"advance, fresh TournamentBooks (replay): p50 {fresh_p50:8.1f} ms")
    print(f"bare match, same executor, no database:  p50 {bare_p50:8.1f} ms")
    judged = [
        figure(
            "advance with a kept book (one match recorded, one queued)",
            kept_p50,
            "ms",
            target=TARGET_KEPT_MS,
            better="lower",
            target_source="set here: a small part of the seeded ladder's 2 s pace",
            baseline=bare_p50,
            baseline_name="the bare match, same executor",
        ),
        figure(
            "replay per finished match (fresh - kept) / finished",
            per_match,
            "ms",
            target=TARGET_REPLAY_MS,
            better="lower",
            target_source="set here",
            baseline=bare_p50,
            baseline_name="the bare match, same executor",
        ),
    ]
    emit(
        {
            **load,
            "finished": finished,
            "kept_advance_ms": kept_p50,
            "fresh_advance_ms": fresh_p50,
            "bare_match_ms": bare_p50,
            "replay_ms_per_finished_match": per_match,
        },
        judged,
    )


if __name__ == "__main__":
    main()
