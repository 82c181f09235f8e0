"""What one slice of a long durable ladder costs: kept between slices, or rebuilt.

The server's runner plays a paced ladder one match per slice. It keeps a
``DurableTournament`` per tournament between slices, so a slice costs its match; a
runner that built it afresh every slice (``run_tournament_durably(max_matches=1)``, what
a restart does once) would first replay every finished match from the database into the
format and the ratings.

Plays ``--finished`` matches (default 1,000) of a tic-tac-toe ladder between
``builtin:random`` and ``builtin:minimax`` (trusted isolation: the match itself is
cheap, so the figure is the bookkeeping's) into a fresh SQLite database, then times
``--slices`` one-match slices (default 9, medians reported) three ways in the same run:

* kept: ``DurableTournament.advance(1)`` on the object that played the history;
* rebuilt: ``run_tournament_durably(..., max_matches=1)``, replaying the history first;
* baseline: the same match spec played by the same executor, no database.

Reported: the kept slice (target: at most 100 ms, set here: a small part of the 2 s
pace of the ladder a new server seeds), the rebuilt slice, and the replay cost per finished match, (rebuilt
- kept) / finished (target: at most 1 ms per match, set here, so a restart over 10,000
matches stays around 10 s).
Prints one JSON object: finished, kept_slice_ms, rebuilt_slice_ms, bare_match_ms,
replay_ms_per_finished_match and the judged figures (target, met, ratio).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
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
    from devspark.services.durable import TournamentParams, create_tournament
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


def timed_ms(action: Any) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    from devspark.arena.executors import LocalExecutor
    from devspark.arena.match import MatchSpec
    from devspark.sandbox import IsolationLevel
    from devspark.services.durable import DurableTournament, run_tournament_durably

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", type=int, default=1000, help="matches played first")
    parser.add_argument("--slices", type=int, default=9, help="one-match slices timed")
    args = parser.parse_args()
    load = machine()
    with tempfile.TemporaryDirectory() as tmp, LocalExecutor(workers=1) as executor:
        engine, tournament_id, factory = setup(Path(tmp), args.finished, args.slices)
        try:
            kept = DurableTournament(factory, tournament_id, executor)
            started = time.perf_counter()
            assert kept.advance(args.finished) == "running"
            history_s = time.perf_counter() - started
            kept_ms = [timed_ms(lambda: kept.advance(1)) for _ in range(args.slices)]
            kept.close()
            rebuilt_ms = [
                timed_ms(
                    lambda: run_tournament_durably(factory, tournament_id, executor, max_matches=1)
                )
                for _ in range(args.slices)
            ]
            spec = MatchSpec(SCENARIO, AGENTS, seed=1, isolation=IsolationLevel.TRUSTED)
            bare_ms = [timed_ms(lambda: list(executor.map([spec]))) for _ in range(args.slices)]
        finally:
            engine.dispose()
    kept_p50, rebuilt_p50, bare_p50 = map(statistics.median, (kept_ms, rebuilt_ms, bare_ms))
    per_match = (rebuilt_p50 - kept_p50) / args.finished
    print(f"{args.finished} finished matches played in {history_s:.1f} s (the history)")
    print(f"kept DurableTournament, one-match slice:   p50 {kept_p50:8.1f} ms")
    print(f"rebuilt (run_tournament_durably) slice:    p50 {rebuilt_p50:8.1f} ms")
    print(f"bare match, same executor, no database:    p50 {bare_p50:8.1f} ms")
    judged = [
        figure(
            "kept slice (one match)",
            kept_p50,
            "ms",
            target=TARGET_KEPT_MS,
            better="lower",
            target_source="set here: a small part of the seeded ladder's 2 s pace",
            baseline=bare_p50,
            baseline_name="the bare match, same executor",
        ),
        figure(
            "replay per finished match (rebuilt - kept) / finished",
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
            "finished": args.finished,
            "kept_slice_ms": kept_p50,
            "rebuilt_slice_ms": rebuilt_p50,
            "bare_match_ms": bare_p50,
            "replay_ms_per_finished_match": per_match,
        },
        judged,
    )


if __name__ == "__main__":
    main()
