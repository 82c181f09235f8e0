"""``GET /api/v1/workers``, ``GET /api/v1/queue`` and the work series of ``/metrics``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.server.settings import Settings
from devspark.store.models import MatchRow, ScenarioRow, WorkerRow, utcnow

SCENARIO = "tictactoe-v1"
WORKER_KEYS = {
    "id",
    "name",
    "host",
    "pid",
    "executor",
    "slots",
    "state",
    "started_at",
    "heartbeat_at",
    "matches_played",
    "in_flight",
}


@pytest.fixture
def settings(tmp_path: Path, server_environ: dict[str, str]) -> Settings:
    return Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An API-only app: the workers table holds only what a test writes."""
    with TestClient(create_app(settings, worker=False)) as test_client:
        yield test_client


def sessions(client: TestClient) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
    return factory


def add_worker(
    client: TestClient, name: str, *, state: str = "busy", beat_age_s: float = 0.0, played: int = 0
) -> None:
    now = utcnow()
    with sessions(client)() as session:
        session.add(
            WorkerRow(
                name=name,
                host="box-1",
                pid=4242,
                state=state,
                started_at=now - timedelta(minutes=1),
                heartbeat_at=now - timedelta(seconds=beat_age_s),
                matches_played=played,
                in_flight=1 if state == "busy" else 0,
            )
        )
        session.commit()


def add_matches(client: TestClient, *specs: tuple[str, float | None, float]) -> None:
    """Insert matches given as (status, finished seconds ago or None, wall_ms)."""
    with sessions(client)() as session:
        if session.get(ScenarioRow, SCENARIO) is None:
            session.add(ScenarioRow(id=SCENARIO, name="tictactoe", version=1))
            session.flush()
        for status, ago, wall_ms in specs:
            finished = None if ago is None else utcnow() - timedelta(seconds=ago)
            session.add(
                MatchRow(scenario_id=SCENARIO, status=status, finished_at=finished, wall_ms=wall_ms)
            )
        session.commit()


def test_workers_are_a_page_of_public_views(client: TestClient) -> None:
    add_worker(client, "alpha", played=5)
    add_worker(client, "beta", state="idle")
    body = client.get("/api/v1/workers", params={"limit": 1}).json()
    assert (body["total"], body["offset"], body["limit"]) == (2, 0, 1)
    [first] = body["items"]
    assert set(first) == WORKER_KEYS
    assert (first["name"], first["host"], first["pid"]) == ("alpha", "box-1", 4242)
    assert (first["state"], first["matches_played"], first["in_flight"]) == ("busy", 5, 1)
    second = client.get("/api/v1/workers", params={"offset": 1}).json()["items"]
    assert [w["name"] for w in second] == ["beta"]


def test_a_stale_heartbeat_shows_offline(client: TestClient) -> None:
    add_worker(client, "silent", state="busy", beat_age_s=60)
    [worker] = client.get("/api/v1/workers").json()["items"]
    assert (worker["state"], worker["in_flight"]) == ("offline", 0)


def test_the_state_filter_keeps_that_state(client: TestClient) -> None:
    add_worker(client, "alpha", state="busy")
    add_worker(client, "beta", state="idle")
    add_worker(client, "silent", state="idle", beat_age_s=60)
    idle = client.get("/api/v1/workers", params={"state": "idle"}).json()
    assert ([w["name"] for w in idle["items"]], idle["total"]) == (["beta"], 1)
    offline = client.get("/api/v1/workers", params={"state": "offline"}).json()
    assert [w["name"] for w in offline["items"]] == ["silent"]


def test_an_unknown_state_is_422_naming_the_allowed_ones(client: TestClient) -> None:
    response = client.get("/api/v1/workers", params={"state": "asleep"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    for allowed in ("idle", "busy", "draining", "offline"):
        assert f"'{allowed}'" in error["message"], error["message"]


def test_the_queue_counts_queued_running_and_the_last_minute(client: TestClient) -> None:
    assert client.get("/api/v1/queue").json() == {
        "queued": 0,
        "running": 0,
        "finished_last_minute": 0,
    }
    add_matches(
        client,
        ("queued", None, 0.0),
        ("queued", None, 0.0),
        ("running", None, 0.0),
        ("finished", 5, 120.0),
        ("finished", 600, 80.0),
    )
    assert client.get("/api/v1/queue").json() == {
        "queued": 2,
        "running": 1,
        "finished_last_minute": 1,
    }


def test_metrics_report_queue_depth_durations_and_matches_per_worker(client: TestClient) -> None:
    add_worker(client, "alpha", played=7)
    add_worker(client, "silent", played=3, beat_age_s=60)
    add_matches(client, ("queued", None, 0.0), ("finished", 5, 100.0), ("finished", 6, 300.0))
    text = client.get("/metrics").text
    assert 'devspark_queue_depth{status="queued"} 1.0' in text
    assert 'devspark_queue_depth{status="running"} 0.0' in text
    assert "devspark_matches_finished_last_minute 2.0" in text
    assert 'devspark_match_duration_seconds{quantile="0.5"} 0.1' in text
    assert 'devspark_match_duration_seconds{quantile="0.99"} 0.3' in text
    assert "devspark_match_duration_window_matches 2.0" in text
    assert 'devspark_worker_matches_played{worker="alpha"} 7.0' in text
    assert 'worker="silent"' not in text  # offline workers are left out
    assert "devspark_work_metrics_up 1.0" in text


def test_the_embedded_worker_is_listed_with_a_live_state(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        items: list[dict[str, object]] = []
        while not items:
            items = client.get("/api/v1/workers").json()["items"]
            assert time.monotonic() < deadline, "the embedded worker never registered"
            time.sleep(0.05)
        [worker] = items
        assert worker["name"] == "embedded"
        assert worker["state"] in ("idle", "busy")
        assert re.search(
            r'devspark_worker_matches_played\{worker="embedded"\}', client.get("/metrics").text
        )


def test_workers_and_queue_are_public(client: TestClient) -> None:
    assert client.get("/api/v1/workers").status_code == 200
    assert client.get("/api/v1/queue").status_code == 200
