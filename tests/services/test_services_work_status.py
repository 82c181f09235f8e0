"""The read model of the workers and the queue, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import get_args

import pytest
from sqlalchemy.orm import Session

from devspark.core.errors import InvalidArgumentError
from devspark.services.queue import WORKER_STATES
from devspark.services.work_status import (
    MatchDurations,
    WorkerState,
    list_workers,
    match_durations,
    matches_per_worker,
    queue_stats,
)
from devspark.store.models import MatchRow, ScenarioRow, WorkerRow, utcnow

SCENARIO = "tictactoe-v1"


def add_worker(
    session: Session,
    name: str,
    *,
    state: str = "idle",
    beat_age_s: float = 0.0,
    played: int = 0,
    in_flight: int = 0,
) -> WorkerRow:
    """Insert a worker whose latest heartbeat is ``beat_age_s`` seconds old."""
    now = utcnow()
    row = WorkerRow(
        name=name,
        host="box",
        pid=100,
        state=state,
        started_at=now - timedelta(minutes=5),
        heartbeat_at=now - timedelta(seconds=beat_age_s),
        matches_played=played,
        in_flight=in_flight,
    )
    session.add(row)
    session.commit()
    return row


def add_match(
    session: Session, status: str, *, finished_ago_s: float | None = None, wall_ms: float = 0.0
) -> None:
    """Insert a match in ``status``, finished ``finished_ago_s`` seconds ago when given."""
    if session.get(ScenarioRow, SCENARIO) is None:
        session.add(ScenarioRow(id=SCENARIO, name="tictactoe", version=1))
        session.flush()
    finished: datetime | None = None
    if finished_ago_s is not None:
        finished = utcnow() - timedelta(seconds=finished_ago_s)
    session.add(
        MatchRow(scenario_id=SCENARIO, status=status, finished_at=finished, wall_ms=wall_ms)
    )
    session.commit()


def test_worker_state_literal_lists_every_worker_state() -> None:
    assert get_args(WorkerState) == WORKER_STATES


def test_a_stale_heartbeat_reads_offline_whatever_the_row_says(session: Session) -> None:
    add_worker(session, "fresh", state="busy", in_flight=2)
    add_worker(session, "stale", state="busy", beat_age_s=60, in_flight=3)
    workers, total = list_workers(session, limit=10, offset=0)
    assert total == 2
    shown = {w.name: (w.state, w.in_flight) for w in workers}
    assert shown == {"fresh": ("busy", 2), "stale": ("offline", 0)}


def test_live_workers_come_first_by_name_then_offline_ones(session: Session) -> None:
    add_worker(session, "zed")
    add_worker(session, "gone", state="offline")
    add_worker(session, "amy", state="draining")
    workers, _ = list_workers(session, limit=10, offset=0)
    assert [w.name for w in workers] == ["amy", "zed", "gone"]


def test_the_state_filter_uses_the_effective_state(session: Session) -> None:
    add_worker(session, "fresh", state="busy")
    add_worker(session, "stale", state="busy", beat_age_s=60)
    add_worker(session, "stopped", state="offline")
    busy, busy_total = list_workers(session, limit=10, offset=0, state="busy")
    assert ([w.name for w in busy], busy_total) == (["fresh"], 1)
    offline, offline_total = list_workers(session, limit=10, offset=0, state="offline")
    assert (sorted(w.name for w in offline), offline_total) == (["stale", "stopped"], 2)


def test_the_lease_decides_when_a_heartbeat_is_stale(session: Session) -> None:
    add_worker(session, "slow", state="idle", beat_age_s=20)
    assert list_workers(session, limit=10, offset=0)[0][0].state == "offline"
    assert list_workers(session, limit=10, offset=0, lease_s=30)[0][0].state == "idle"


def test_list_workers_pages_and_counts_all(session: Session) -> None:
    for name in ("a", "b", "c"):
        add_worker(session, name)
    page, total = list_workers(session, limit=2, offset=1)
    assert ([w.name for w in page], total) == (["b", "c"], 3)


def test_an_unknown_state_is_refused_with_the_allowed_ones(session: Session) -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"state='asleep' is not one of: idle, busy, draining, offline"
    ):
        list_workers(session, limit=10, offset=0, state="asleep")


def test_queue_stats_count_queued_running_and_the_last_minute(session: Session) -> None:
    add_match(session, "queued")
    add_match(session, "queued")
    add_match(session, "running")
    add_match(session, "finished", finished_ago_s=5)
    add_match(session, "finished", finished_ago_s=120)  # older than a minute
    add_match(session, "failed", finished_ago_s=5)  # not finished
    stats = queue_stats(session)
    assert (stats.queued, stats.running, stats.finished_last_minute) == (2, 1, 1)


def test_queue_stats_of_an_empty_queue_are_zero(session: Session) -> None:
    stats = queue_stats(session)
    assert (stats.queued, stats.running, stats.finished_last_minute) == (0, 0, 0)


def test_match_durations_cover_the_window_in_seconds(session: Session) -> None:
    for wall_ms in (300.0, 100.0, 200.0):
        add_match(session, "finished", finished_ago_s=10, wall_ms=wall_ms)
    add_match(session, "finished", finished_ago_s=3600, wall_ms=9000.0)  # out of the window
    durations = match_durations(session, window_s=300)
    assert durations.seconds == pytest.approx((0.1, 0.2, 0.3))
    assert durations.quantile(0.5) == pytest.approx(0.2)
    assert durations.quantile(0.99) == pytest.approx(0.3)


def test_quantiles_of_no_matches_are_nan_and_q_is_checked() -> None:
    empty = MatchDurations(window_s=300, seconds=())
    assert math.isnan(empty.quantile(0.5))
    with pytest.raises(InvalidArgumentError, match=r"q=1.5 must be between 0 and 1"):
        empty.quantile(1.5)


def test_matches_per_worker_sums_live_workers_by_name(session: Session) -> None:
    add_worker(session, "embedded", played=3)
    add_worker(session, "embedded", played=4)
    add_worker(session, "other", played=1)
    add_worker(session, "gone", played=9, beat_age_s=60)
    assert matches_per_worker(session) == {"embedded": 7, "other": 1}
