"""Run one durable tournament in this process: the subprocess the kill test SIGKILLs.

Usage: ``python durable_worker.py DATABASE_URL TOURNAMENT_ID``. Plays every match in
this process (``LocalExecutor(workers=1)``) and sleeps ``DEVSPARK_TEST_MATCH_DELAY``
seconds (default 0) before each one, so that a test can kill it mid-tournament.
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
    """Run the tournament named in ``argv`` to the end."""
    url, tournament_id = argv[1], uuid.UUID(argv[2])
    engine = make_engine(url)
    executor = SlowExecutor(float(os.environ.get("DEVSPARK_TEST_MATCH_DELAY", "0")))
    try:
        run_tournament_durably(session_factory(engine), tournament_id, executor)
    finally:
        executor.close()
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
