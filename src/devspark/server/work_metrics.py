"""Prometheus series about the work: queue depth, match durations, matches per worker.

:class:`WorkCollector` reads the database each time ``/metrics`` is scraped (through
:mod:`devspark.services.work_status`), so every API process reports the same figures for
the whole deployment, whichever worker played the matches:

``devspark_queue_depth{status="queued"|"running"}``
    Matches waiting for a worker, and being played (gauge).
``devspark_matches_finished_last_minute``
    Matches finished in the last 60 seconds (gauge).
``devspark_match_duration_seconds{quantile="0.5"|"0.9"|"0.99"}``
    Wall time of the matches finished in the last 5 minutes (at most the latest 10,000),
    nearest-rank quantiles; NaN when none finished (gauge).
``devspark_match_duration_window_matches``
    How many matches those quantiles are computed over (gauge).
``devspark_worker_matches_played{worker="NAME"}``
    Matches each live worker has played since it started (gauge; offline workers are
    left out, live ones sharing a name are summed).
``devspark_work_metrics_up``
    1 when the figures above could be read, 0 when the database failed (gauge).

Durations are gauges over a recent window, not a Prometheus histogram: a histogram's
buckets are counters that only grow, which figures recomputed from the database at each
scrape (and by every API process) cannot promise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import State

from devspark.services import work_status

logger = logging.getLogger(__name__)

QUANTILES = (0.5, 0.9, 0.99)
"""The match duration quantiles reported."""


class WorkCollector(Collector):
    """Collect the work series from the database of an app, at scrape time.

    Args:
        state: The app's ``state``; its ``session_factory`` is read at each scrape (it
            exists once the app has started; before that nothing is reported).

    """

    def __init__(self, state: State) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        """The series listed in the module's documentation."""
        factory: sessionmaker[Session] | None = getattr(self._state, "session_factory", None)
        if factory is None:
            return []
        up = GaugeMetricFamily(
            "devspark_work_metrics_up", "1 when the work metrics could be read from the database."
        )
        try:
            with factory() as session:
                families = list(_families(session))
        except SQLAlchemyError:
            logger.exception("work metrics: the database could not be read")
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*families, up]


def _families(session: Session) -> Iterator[Metric]:
    stats = work_status.queue_stats(session)
    depth = GaugeMetricFamily(
        "devspark_queue_depth", "Matches queued and running.", labels=["status"]
    )
    depth.add_metric(["queued"], stats.queued)
    depth.add_metric(["running"], stats.running)
    yield depth
    yield GaugeMetricFamily(
        "devspark_matches_finished_last_minute",
        "Matches finished in the last 60 seconds.",
        value=stats.finished_last_minute,
    )
    durations = work_status.match_durations(session)
    window = int(durations.window_s)
    duration = GaugeMetricFamily(
        "devspark_match_duration_seconds",
        f"Wall time of the matches finished in the last {window} s (nearest-rank quantiles).",
        labels=["quantile"],
    )
    for q in QUANTILES:
        duration.add_metric([str(q)], durations.quantile(q))
    yield duration
    yield GaugeMetricFamily(
        "devspark_match_duration_window_matches",
        f"Matches finished in the last {window} s that the duration quantiles cover.",
        value=len(durations.seconds),
    )
    played = GaugeMetricFamily(
        "devspark_worker_matches_played",
        "Matches each live worker has played since it started.",
        labels=["worker"],
    )
    for name, count in work_status.matches_per_worker(session).items():
        played.add_metric([name], count)
    yield played


__all__ = ["QUANTILES", "WorkCollector"]
