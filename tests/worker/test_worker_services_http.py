"""Service agents through HTTP with the embedded worker (``devspark serve``), end to end.

An instance of the sandboxed built-in ``echo`` is started with ``POST /api/v1/instances``;
the server's embedded worker hosts it; ``POST /api/v1/tasks?wait=`` answers with the
finished task (the synchronous mode), its progress stored, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devspark.app import create_app
from devspark.server.settings import Settings
from devspark.store.db import DATABASE_URL_ENV

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    settings = Settings.from_env(data_dir=tmp_path / "data", environ={DATABASE_URL_ENV: db_url})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def bearer(client: TestClient, username: str) -> dict[str, str]:
    client.post("/api/v1/auth/register", json={"username": username, "password": PASSWORD})
    tokens = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def serving(client: TestClient, headers: dict[str, str], ident: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = client.get(f"/api/v1/instances/{ident}", headers=headers).json()
        if body["state"] in ("online", "idle", "busy"):
            return body
        assert time.monotonic() < deadline, f"instance still {body['state']!r}: {body}"
        time.sleep(0.05)


def test_a_task_posted_with_wait_is_answered_by_an_instance_the_embedded_worker_hosts(
    client: TestClient,
) -> None:
    ada = bearer(client, "ada")
    started = client.post(
        "/api/v1/instances", json={"agent": "builtin:echo", "replicas": 1}, headers=ada
    )
    assert started.status_code == 201, started.text
    (instance,) = started.json()["instances"]
    assert serving(client, ada, instance["id"])["worker_id"] is not None
    answered = client.post(
        "/api/v1/tasks?wait=30", json={"type": "echo", "payload": {"hi": [1, 2]}}, headers=ada
    )
    assert answered.status_code == 200, answered.text
    task = answered.json()
    assert (task["status"], task["result"], task["instance_id"]) == (
        "succeeded",
        {"hi": [1, 2]},
        instance["id"],
    )
    slow = client.post(
        "/api/v1/tasks?wait=30",
        json={"type": "echo.slow", "payload": {"pause_ms": 10}},
        headers=ada,
    )
    assert slow.status_code == 200, slow.text
    assert slow.json()["progress"] == {"step": 3, "of": 3}
