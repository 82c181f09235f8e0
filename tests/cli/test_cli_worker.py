"""``devspark worker`` processes beside an API-only ``devspark serve``, killed and drained.

Everything here runs the real commands as subprocesses: one API process started with
``--no-worker`` and ``devspark worker`` processes on the same database and data folder.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import ApiServer, Process, wait_until, worker
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker
from websockets.sync.client import connect as ws_connect

from devspark.arena.agents import BUILTIN_DIR
from devspark.services.accounts import register
from devspark.store.db import make_engine, session_factory, upgrade
from devspark.store.models import MatchResultRow, MatchRow, WorkerRow
from devspark.testing.archives import pack_agent

PASSWORD = "correct horse battery"
SLOW_MOVE = "import time\n\n\ndef act(observation, context):\n    time.sleep(0.04)\n"
FAST_LEASE = ("--lease-s", "3", "--heartbeat-s", "0.5")
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> str:
    """An empty PostgreSQL database (several processes share it, so not SQLite)."""
    url: str = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return url


def _prepare(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Migrate ``url`` and give it the account ``ada`` (so ``serve`` seeds nothing)."""
    engine = make_engine(url)
    upgrade(engine)
    made = session_factory(engine)
    with made() as session:
        register(session, "ada", PASSWORD)
        session.commit()
    return engine, made


def _environ(url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DEVSPARK_DATABASE_URL": url,
        "DEVSPARK_RATE_LIMIT": "off",
        "DEVSPARK_RATE_LIMIT_IP": "off",
        **extra,
    }


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Every process a test starts; stopped at the end whatever happened."""
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def _login(client: httpx.Client) -> dict[str, str]:
    answer = client.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _slow_agent(tmp_path: Path) -> bytes:
    folder = tmp_path / "slowpoke"
    folder.mkdir()
    manifest = (BUILTIN_DIR / "random" / "agent.toml").read_text()
    (folder / "agent.toml").write_text(manifest.replace('name = "random"', 'name = "slowpoke"'))
    code = (BUILTIN_DIR / "random" / "agent.py").read_text()
    (folder / "agent.py").write_text(code.replace("def act(observation, context):\n", SLOW_MOVE, 1))
    return pack_agent(folder)


def _start_tournament(client: httpx.Client, auth: dict[str, str], tmp_path: Path) -> str:
    """A double round robin of a slow uploaded agent and three built-ins: 24 matches."""
    files = {"file": ("slowpoke.tar.gz", _slow_agent(tmp_path), "application/gzip")}
    agent = client.post("/api/v1/agents", files=files, headers=auth).json()
    client.post(f"/api/v1/agents/{agent['agent_id']}/start", headers=auth)
    created = client.post(
        "/api/v1/tournaments",
        headers=auth,
        json={
            "scenario": "tictactoe",
            "format": "round_robin",
            "agents": [
                "agent:ada/slowpoke",
                "builtin:random",
                "builtin:minimax",
                "builtin:random-js",
            ],
            "rounds": 2,
            "seed": 5,
        },
    )
    assert created.status_code == 201, created.text
    tournament = str(created.json()["id"])
    started = client.post(f"/api/v1/tournaments/{tournament}/start", headers=auth)
    assert started.status_code == 202, started.text
    return tournament


def _worker_ids(made: sessionmaker[Session]) -> dict[str, uuid.UUID]:
    with made() as session:
        return {row.name: row.id for row in session.scalars(select(WorkerRow))}


def _running_on(made: sessionmaker[Session], worker_id: uuid.UUID) -> uuid.UUID | None:
    with made() as session:
        return session.scalar(
            select(MatchRow.id).where(MatchRow.worker_id == worker_id, MatchRow.status == "running")
        )


def _finished(made: sessionmaker[Session]) -> dict[uuid.UUID, tuple[Any, ...]]:
    with made() as session:
        return {
            row.id: (row.finished_at, row.replay_ref, row.worker_id)
            for row in session.scalars(select(MatchRow).where(MatchRow.status == "finished"))
        }


@pytest.mark.integration
def test_two_workers_share_a_round_robin_and_a_killed_one_loses_nothing(
    tmp_path: Path, postgres: str, processes: list[Process]
) -> None:
    engine, made = _prepare(postgres)
    env = _environ(postgres)
    data = tmp_path / "data"
    api = ApiServer(data, env, "--no-worker").start()
    processes.append(api)
    first = worker(data, env, "first", *FAST_LEASE).start()
    second = worker(data, env, "second", *FAST_LEASE).start()
    processes += [first, second]
    try:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            tournament = _start_tournament(client, _login(client), tmp_path)
            ids = wait_until(
                lambda: (found := _worker_ids(made)) and len(found) == 2 and found, "workers"
            )

            # Kill the second worker while it holds a match, once both have played.
            def both_played_and_second_busy() -> bool:
                played = Counter(worker_id for *_, worker_id in _finished(made).values())
                return all(played[ident] for ident in ids.values()) and bool(
                    _running_on(made, ids["second"])
                )

            wait_until(both_played_and_second_busy, "both workers to play, the second busy", 90)
            held = _running_on(made, ids["second"])
            second.kill()
            before = _finished(made)
            assert held is not None and held not in before

            def finished() -> dict[str, Any] | None:
                body: dict[str, Any] = client.get(f"/api/v1/tournaments/{tournament}").json()
                return body if body["status"] == "finished" else None

            status = wait_until(finished, "the tournament to finish", 120)
        planned = status["matches"]["planned"]
        assert status["matches"]["finished"] == status["matches"]["total"] == planned == 24
        with made() as session:
            rows = list(
                session.scalars(
                    select(MatchRow).where(MatchRow.tournament_id == uuid.UUID(tournament))
                )
            )
            pairings = Counter(
                (row.options["pairing"]["round"], tuple(row.options["pairing"]["agents"]), row.seed)
                for row in rows
            )
            assert len(rows) == planned and set(pairings.values()) == {1}  # none queued twice
            seats = Counter(session.scalars(select(MatchResultRow.match_id)))
            assert len(seats) == planned and set(seats.values()) == {2}  # stored once each
            replayed = session.get(MatchRow, held)
            assert replayed is not None and replayed.worker_id == ids["first"]  # played again
        after = _finished(made)
        for match_id, finished_before in before.items():
            assert after[match_id] == finished_before  # nothing finished was touched
        # The killed worker is offline once its lease ran out; SIGTERM drains the other.
        first.signal(signal.SIGTERM)
        assert first.wait(30) == 0, first.output
        with made() as session:
            states = {row.name: row.state for row in session.scalars(select(WorkerRow))}
        assert states == {"first": "offline", "second": "offline"}
    finally:
        engine.dispose()


@pytest.mark.integration
def test_sigterm_drains_the_match_in_flight_and_claims_nothing_more(
    tmp_path: Path, postgres: str, processes: list[Process]
) -> None:
    engine, made = _prepare(postgres)
    env = _environ(postgres)
    data = tmp_path / "data"
    api = ApiServer(data, env, "--no-worker").start()
    only = worker(data, env, "only").start()
    processes += [api, only]
    try:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            tournament = _start_tournament(client, _login(client), tmp_path)
        ident = wait_until(lambda: _worker_ids(made).get("only"), "the worker to register")
        in_flight = wait_until(lambda: _running_on(made, ident), "a match in flight")
        only.signal(signal.SIGTERM)
        assert only.wait(60) == 0, only.output
        assert "draining" in only.output
        with made() as session:
            drained = session.get(MatchRow, in_flight)
            assert drained is not None and drained.status == "finished"  # finished, stored
            assert drained.worker_id == ident
            statuses = Counter(
                session.scalars(
                    select(MatchRow.status).where(MatchRow.tournament_id == uuid.UUID(tournament))
                )
            )
            assert statuses["running"] == 0 and statuses["finished"] < 24  # nothing new claimed
            row = session.get(WorkerRow, ident)
            assert row is not None and row.state == "offline" and row.in_flight == 0
    finally:
        engine.dispose()


def test_a_second_worker_on_sqlite_says_so_and_waits(
    tmp_path: Path, processes: list[Process]
) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'devspark.db'}"
    engine, _ = _prepare(url)
    engine.dispose()
    env = _environ(url)
    first = worker(data, env, "first").start()
    processes.append(first)
    wait_until(lambda: "plays with" in first.output, "the first worker to play")
    second = worker(data, env, "second").start()
    processes.append(second)
    wait_until(lambda: "one worker plays at a time" in second.output, "the second to say so")
    assert "plays with" not in second.output  # it waits: no claims, no registration
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0, first.output
    wait_until(lambda: "plays with" in second.output, "the second worker to take over", 30)
    second.signal(signal.SIGTERM)
    assert second.wait(30) == 0, second.output


@pytest.mark.parametrize(
    "bus",
    [
        pytest.param({"DEVSPARK_REDIS_URL": REDIS_URL}, id="redis"),
        pytest.param({"DEVSPARK_BUS_URL": "nats://127.0.0.1:4222"}, id="nats"),
    ],
)
def test_live_steps_of_a_worker_match_reach_a_client_of_an_api_without_a_worker(
    tmp_path: Path, processes: list[Process], bus: dict[str, str]
) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'devspark.db'}"
    engine, _ = _prepare(url)
    engine.dispose()
    env = _environ(url, **bus)
    api = ApiServer(data, env, "--no-worker").start()
    processes.append(api)
    with httpx.Client(base_url=api.url, timeout=30) as client:
        auth = _login(client)
        created = client.post(
            "/api/v1/matches",
            headers=auth,
            json={"scenario": "tictactoe", "agents": ["builtin:minimax", "builtin:random"]},
        )
        assert created.status_code == 201, created.text
        match_id = created.json()["id"]
        token = auth["Authorization"].removeprefix("Bearer ")
        ws_url = api.url.replace("http://", "ws://") + f"/api/v1/ws?token={token}"
        with ws_connect(ws_url, open_timeout=10) as ws:
            assert json.loads(ws.recv(10))["type"] == "welcome"
            ws.send(json.dumps({"type": "subscribe", "topic": f"match:{match_id}"}))
            assert json.loads(ws.recv(10))["type"] == "subscribed"
            # The worker starts after the watch: it learns of it over the bus, then plays.
            processes.append(worker(data, env, "live").start())
            events: list[dict[str, Any]] = []
            while not events or events[-1]["type"] != "match_finished":
                events.append(json.loads(ws.recv(60)))
    kinds = [event["type"] for event in events]
    assert kinds[0] == "match_started", kinds
    steps = [event for event in events if event["type"] == "step"]
    assert [step["step"] for step in steps] == list(range(-1, events[-1]["steps"]))
    assert steps[0]["state"] and steps[-1]["state"]["result"] in ("win", "draw")
