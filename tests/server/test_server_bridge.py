"""Live events over the real Redis: a client of an API-only server watches a match another
server's embedded worker plays."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from devspark.app import create_app
from devspark.core.isolation import IsolationLevel
from devspark.server.settings import Settings
from devspark.services.live import LiveHub, match_topic
from devspark.services.matches import create_match
from devspark.store.models import UserRow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
pytestmark = pytest.mark.integration


def test_a_client_of_one_server_watches_a_match_another_plays(
    tmp_path: Path, redis_url: str
) -> None:
    environ = {
        "DEVSPARK_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "DEVSPARK_REDIS_URL": redis_url,
        "DEVSPARK_RATE_LIMIT": "off",
        "DEVSPARK_RATE_LIMIT_IP": "off",
    }
    playing = create_app(Settings.from_env(data_dir=tmp_path / "a", environ=environ), hasher=CHEAP)
    serving = create_app(
        Settings.from_env(data_dir=tmp_path / "b", environ=environ), worker=False, hasher=CHEAP
    )
    with TestClient(playing), TestClient(serving) as server:
        assert serving.state.worker is None
        playing.state.worker.pause()  # the match waits until the client watches it
        server.post("/api/v1/auth/register", json={"username": "ada", "password": "pw-" * 4})
        token = server.post(
            "/api/v1/auth/login", json={"username": "ada", "password": "pw-" * 4}
        ).json()["access_token"]
        with serving.state.session_factory() as session:
            owner = session.scalars(select(UserRow).where(UserRow.username == "ada")).one()
            match_id = create_match(
                session,
                owner_id=owner.id,
                scenario="tictactoe",
                agents=["builtin:minimax", "builtin:random"],
                isolation=IsolationLevel.TRUSTED,
            ).id
        with server.websocket_connect(f"/api/v1/ws?token={token}") as ws:
            assert ws.receive_json()["type"] == "welcome"
            ws.send_json({"type": "subscribe", "topic": f"match:{match_id}"})
            assert ws.receive_json()["type"] == "subscribed"
            hub: LiveHub = playing.state.live
            topic = match_topic(match_id)
            for _ in range(100):  # the watch reaches the playing server
                if hub.watching(topic):
                    break
                time.sleep(0.05)
            assert hub.watching(topic)
            playing.state.worker.resume()
            events: list[dict[str, Any]] = []
            while not events or events[-1]["type"] != "match_finished":
                events.append(ws.receive_json())
    steps = [e for e in events if e["type"] == "step"]
    assert steps and steps[0]["step"] == -1  # every step, from the other server
    assert events[-1]["match_id"] == str(match_id)
