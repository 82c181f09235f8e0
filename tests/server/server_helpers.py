"""HTTP helpers shared by the server tests: register and log in, wait for a status."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"


def login(client: TestClient, username: str) -> dict[str, str]:
    """Register and log in ``username``; its bearer headers."""
    created = client.post(
        "/api/v1/auth/register", json={"username": username, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    tokens = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def wait(client: TestClient, url: str, status: str) -> dict[str, Any]:
    """Poll ``url`` until its ``status`` is ``status`` (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = client.get(url).json()
        if body["status"] == status:
            return body
        assert time.monotonic() < deadline, f"{url} still {body['status']!r}: {body}"
        time.sleep(0.05)
