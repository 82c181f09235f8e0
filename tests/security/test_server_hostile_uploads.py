"""Hostile agents uploaded to the server forfeit their own moves, never the server's work.

Hostile agents from the corpus are uploaded through the API like any user's agent,
started, and entered into a tournament with ``builtin:random`` and into matches of their
own. Whatever they do (spin, flood, crash, exhaust memory or processes, send garbage),
the tournament must finish with standings, every match must finish with the hostile
seat's fault recorded and the opponent's result intact, and the server must still
answer. They play sandboxed (the only isolation an upload may have).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from devspark.sandbox import IsolationLevel, unavailable_reason
from devspark.server.app import create_app
from devspark.server.settings import Settings
from devspark.testing.archives import pack_agent
from devspark.testing.hostile import CORPUS, HOSTILE_DIR

pytestmark = pytest.mark.security

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
CASES = {case.name: case for case in CORPUS}
# One per kind of attack: CPU, memory, processes, output flood, garbage, crash at import.
HOSTILE = ["busy-loop", "memory-bomb", "fork-bomb", "log-flood", "garbage-json", "import-crash"]
TOURNAMENT_HOSTILE = ["busy-loop", "garbage-json", "raise-in-act"]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    reason = unavailable_reason(IsolationLevel.SANDBOX)
    if reason is not None:
        pytest.skip(f"the sandbox is unavailable here: {reason}")
    environ = {"DEVSPARK_RATE_LIMIT": "off", "DEVSPARK_RATE_LIMIT_IP": "off"}
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=environ)
    with TestClient(create_app(settings, hasher=CHEAP)) as test_client:
        yield test_client


def login(client: TestClient) -> dict[str, str]:
    client.post("/api/v1/auth/register", json={"username": "mallory", "password": PASSWORD})
    tokens = client.post(
        "/api/v1/auth/login", json={"username": "mallory", "password": PASSWORD}
    ).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def upload(client: TestClient, auth: dict[str, str], name: str) -> str:
    """Upload and start the hostile agent ``name``; its entry reference."""
    files = {"file": (f"{name}.tar.gz", pack_agent(HOSTILE_DIR / name), "application/gzip")}
    published = client.post("/api/v1/agents", files=files, headers=auth)
    assert published.status_code == 201, published.text
    agent_id = published.json()["agent_id"]
    started = client.post(f"/api/v1/agents/{agent_id}/start", headers=auth)
    assert started.status_code == 200, started.text
    return f"agent:mallory/{name}"


def wait(client: TestClient, url: str, status: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = client.get(url).json()
        if body["status"] == status:
            return body
        assert time.monotonic() < deadline, f"{url} still {body['status']!r}"
        time.sleep(0.1)


def test_hostile_uploads_forfeit_their_moves_and_the_server_carries_on(
    client: TestClient,
) -> None:
    auth = login(client)
    refs = {name: upload(client, auth, name) for name in HOSTILE}
    matches = {}
    for name, ref in refs.items():
        created = client.post(
            "/api/v1/matches",
            headers=auth,
            json={"scenario": "tictactoe", "agents": [ref, "builtin:random"], "seed": 1},
        )
        assert created.status_code == 201, created.text
        matches[name] = created.json()["id"]
    for name, match_id in matches.items():
        done = wait(client, f"/api/v1/matches/{match_id}", "finished")
        hostile, opponent = done["results"]
        assert hostile["status"] in CASES[name].expected, (name, hostile)
        assert opponent["status"] == "ok" and opponent["reward"] >= hostile["reward"], name
        replay = client.get(f"/api/v1/matches/{match_id}/replay")
        assert replay.status_code == 200, name
        assert client.get("/readyz").json() == {"status": "ok"}


def test_a_tournament_with_hostile_uploads_finishes_with_standings(client: TestClient) -> None:
    auth = login(client)
    refs = [upload(client, auth, name) for name in TOURNAMENT_HOSTILE]
    created = client.post(
        "/api/v1/tournaments",
        headers=auth,
        json={
            "scenario": "tictactoe",
            "format": "round_robin",
            "agents": [*refs, "builtin:random"],
            "rounds": 1,
            "seed": 2,
        },
    )
    assert created.status_code == 201, created.text
    tournament = created.json()["id"]
    client.post(f"/api/v1/tournaments/{tournament}/start", headers=auth)
    status = wait(client, f"/api/v1/tournaments/{tournament}", "finished")
    assert status["matches"]["finished"] == status["matches"]["total"] == 12
    standings = client.get(f"/api/v1/tournaments/{tournament}/standings").json()["items"]
    assert standings[0]["agent"] == "builtin:random"  # the only agent that plays fair
    assert len(standings) == 4
