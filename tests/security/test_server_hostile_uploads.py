"""Hostile agents uploaded to the server forfeit their own moves, never the server's work.

Hostile agents from the corpus are uploaded through the API like any user's agent,
started, and entered into a tournament with ``builtin:random`` and into matches of their
own. Whatever they do (spin, flood, crash, exhaust memory or processes, send garbage),
the tournament must finish with standings, every match must finish with the hostile
seat's fault recorded and the opponent's result intact, and the server must still
answer. They play sandboxed (the only isolation an upload may have).

Probes from the corpus (environment, file writes, other agents' files) play too, and the
host is checked as for the CLI corpus (``host_checks.py``): no file written outside the
server's data folder (the canary, staged agents, an opponent's state, ``src/``, marker
files), none of the sandbox user's in the data folder, no surviving sandbox-user
process, and the server's canary environment variable nowhere in what the API serves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from host_checks import HostWatch, owned_by

from devspark.app import create_app
from devspark.arena.agents import resolve_agent
from devspark.sandbox import IsolationLevel, staging, unavailable_reason
from devspark.server.settings import Settings
from devspark.testing.archives import pack_agent
from devspark.testing.hostile import CORPUS, HOSTILE_DIR

pytestmark = pytest.mark.security

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
CASES = {case.name: case for case in CORPUS}
# One per kind of attack: CPU, memory, processes, output flood, garbage.
HOSTILE = ["busy-loop", "memory-bomb", "fork-bomb", "log-flood", "garbage-json"]
TOURNAMENT_HOSTILE = ["busy-loop", "garbage-json", "raise-in-act"]
# Probes play legal moves and log a verdict per attempt: LEAK lines must never appear.
PROBES = ["env-leak", "fs-write-probe", "cross-agent-probe"]
STAGED = {*HOSTILE, *TOURNAMENT_HOSTILE, *PROBES, "import-crash"}


@pytest.fixture
def client(tmp_path: Path, canary_secret: str, host: HostWatch) -> Iterator[TestClient]:
    """A server whose process environment holds the canary secret.

    It stops before ``host`` looks at the host again: what it left running counts.
    """
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


def upload(client: TestClient, auth: dict[str, str], name: str, *, status: int = 200) -> str:
    """Upload and start the hostile agent ``name``; its entry reference.

    ``status`` is what starting it must answer (starting tries it once in the sandbox).
    """
    files = {"file": (f"{name}.tar.gz", pack_agent(HOSTILE_DIR / name), "application/gzip")}
    published = client.post("/api/v1/agents", files=files, headers=auth)
    assert published.status_code == 201, published.text
    agent_id = published.json()["agent_id"]
    started = client.post(f"/api/v1/agents/{agent_id}/start", headers=auth)
    assert started.status_code == status, started.text
    return f"agent:mallory/{name}"


@pytest.fixture
def host(sandbox_uid: int, canary: bytes, tmp_path: Path) -> Iterator[HostWatch]:
    """Watch the host around the test; after it, fail on anything an agent changed."""
    runtime = staging.runtime_dir()
    opponent = resolve_agent("builtin:random")
    opponent_state = runtime / "state" / f"{opponent.manifest.name}-{opponent.sha256[:16]}"
    # Staged before the snapshot, as the server will stage them: staging writes, and a
    # probe's own code holds the marker text that flags a file as written by an agent.
    for folder in [opponent.folder, *(HOSTILE_DIR / name for name in STAGED)]:
        staging.stage(folder)
    watch = HostWatch.start(sandbox_uid, runtime, opponent_state)
    yield watch
    problems = watch.problems(canary)
    problems += [f"written by the sandbox user: {path}" for path in owned_by(sandbox_uid, tmp_path)]
    assert problems == [], "\n".join(problems)


def wait(client: TestClient, url: str, status: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = client.get(url).json()
        if body["status"] == status:
            return body
        assert time.monotonic() < deadline, f"{url} still {body['status']!r}"
        time.sleep(0.1)


def test_hostile_uploads_forfeit_their_moves_and_the_server_carries_on(
    client: TestClient, canary_secret: str
) -> None:
    auth = login(client)
    # An agent that crashes at import is refused when started (tried once in the sandbox).
    upload(client, auth, "import-crash", status=409)
    refs = {name: upload(client, auth, name) for name in HOSTILE + PROBES}
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
        assert opponent["status"] == "ok", (name, opponent)
        if name in HOSTILE:
            assert opponent["reward"] >= hostile["reward"], name
        replay = client.get(f"/api/v1/matches/{match_id}/replay")
        assert replay.status_code == 200, name
        assert canary_secret not in replay.text and canary_secret not in json.dumps(done), name
        if name in PROBES:
            logs = replay.json()["agents"][0]["logs"]
            assert logs and logs[-1].startswith(f"DONE {name}"), (name, logs[-3:])
            assert [line for line in logs if line.startswith("LEAK")] == [], name
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
