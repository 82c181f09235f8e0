"""Run one durable tournament in this process: the subprocess the kill test SIGKILLs.

Usage: ``python durable_worker.py DATABASE_URL TOURNAMENT_ID``. Plays every match in
this process (``LocalExecutor(workers=1)``, through
:func:`~devspark.services.durable.run_tournament_durably`: the steps a worker takes) and
sleeps ``DEVSPARK_TEST_MATCH_DELAY`` seconds (default 0) before each one, while the match
is claimed, so that a test can kill it mid-match. ``DEVSPARK_TEST_LEASE_S`` (default: the
queue's lease) is how long a silent worker keeps its claims: a resumed run passes a short
one so that the killed process's claim is reaped and its match played again.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence

from devspark.arena.executors import LocalExecutor
from devspark.arena.match import MatchSpec
from devspark.core.results import MatchResult
from devspark.services.durable import run_tournament_durably
from devspark.services.queue import DEFAULT_LEASE_S
from devspark.store.db import make_engine, session_factory


class SlowExecutor:
    """A :class:`LocalExecutor` that waits before every match (a test hook)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.inner = LocalExecutor(workers=1)

    def map(self, specs: Sequence[MatchSpec]) -> Iterator[MatchResult]:
        """Sleep, then play, one spec at a time."""
        for spec in specs:
            time.sleep(self.delay)
            yield from self.inner.map([spec])

    def close(self) -> None:
        """Stop the inner executor."""
        self.inner.close()


def main(argv: list[str]) -> int:
    """Run the tournament named in ``argv`` to the end; print its final status."""
    url, tournament_id = argv[1], uuid.UUID(argv[2])
    lease_s = float(os.environ.get("DEVSPARK_TEST_LEASE_S", str(DEFAULT_LEASE_S)))
    engine = make_engine(url)
    executor = SlowExecutor(float(os.environ.get("DEVSPARK_TEST_MATCH_DELAY", "0")))
    try:
        status = run_tournament_durably(
            session_factory(engine), tournament_id, executor, lease_s=lease_s
        )
    finally:
        executor.close()
        engine.dispose()
    print(status)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
