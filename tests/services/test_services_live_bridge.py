"""Live events between server processes over the real Redis (``RedisBridge``)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from devspark.sandbox import IsolationLevel
from devspark.server.app import create_app
from devspark.server.bridge import RedisBridge
from devspark.server.live import LiveHub, match_topic
from devspark.server.settings import Settings
from devspark.services.durable import create_match
from devspark.store.models import UserRow

REDIS_URL = "redis://127.0.0.1:6379/0"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
pytestmark = pytest.mark.integration


@pytest.fixture
def channel() -> str:
    """A channel of this test's own, so parallel tests never hear each other."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable on 127.0.0.1:6379: {exc}")
    return f"devspark:test:{uuid.uuid4().hex}"


def test_a_bridge_ignores_its_own_messages_and_garbage() -> None:
    bridge = RedisBridge(REDIS_URL)
    got: list[tuple[str, dict[str, Any]]] = []
    own = json.dumps({"origin": bridge.origin, "topic": "match:x", "event": {"type": "step"}})
    bridge.receive(own, lambda t, e: got.append((t, e)))
    bridge.receive(b"not json", lambda t, e: got.append((t, e)))
    other = json.dumps({"origin": "elsewhere", "topic": "match:x", "event": {"type": "step"}})
    bridge.receive(other, lambda t, e: got.append((t, e)))
    assert got == [("match:x", {"type": "step"})]
    bridge.receive(json.dumps({"origin": "elsewhere", "watch": "match:x"}), got.append)  # type: ignore[arg-type]
    assert bridge.watched_elsewhere("match:x")
    bridge.receive(json.dumps({"origin": "elsewhere", "unwatch": "match:x"}), got.append)  # type: ignore[arg-type]
    assert not bridge.watched_elsewhere("match:x")


async def _subscribers(channel: str, count: int, timeout: float = 10.0) -> None:
    """Wait until Redis counts ``count`` subscribers on ``channel`` (PUBSUB NUMSUB)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    deadline = time.monotonic() + timeout
    try:
        while (numsub := client.pubsub_numsub(channel)[0][1]) < count:
            assert time.monotonic() < deadline, f"{numsub} of {count} subscribers on {channel}"
            await asyncio.sleep(0.01)
    finally:
        client.close()


def test_events_and_watches_travel_between_two_hubs(channel: str) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], bool, bool]:
        loop = asyncio.get_running_loop()
        player_bridge = RedisBridge(REDIS_URL, channel)  # the server that plays
        viewer_bridge = RedisBridge(REDIS_URL, channel)  # the server a client is on
        player, viewer = LiveHub(bridge=player_bridge), LiveHub(bridge=viewer_bridge)
        for hub, bridge in ((player, player_bridge), (viewer, viewer_bridge)):
            hub.bind(loop)
            bridge.start(hub.deliver_remote)
        await _subscribers(channel, 2)  # both listening
        topic = match_topic(uuid.uuid4())
        before = player.watching(topic)
        subscription = viewer.subscribe()
        viewer.add_topic(subscription, topic)  # a client of the viewer server watches
        for _ in range(50):
            if player.watching(topic):
                break
            await asyncio.sleep(0.05)
        watched = player.watching(topic)
        player.publish(topic, {"type": "step", "step": 0})  # from the playing server
        player.publish(topic, {"type": "step", "step": 1})
        received = [await asyncio.wait_for(subscription.get(), 5) for _ in range(2)]
        viewer.unsubscribe(subscription)
        await player_bridge.stop()
        await viewer_bridge.stop()
        return received, before, watched

    received, before, watched = asyncio.run(scenario())
    assert not before and watched
    assert [event["step"] for event in received] == [0, 1]
    assert all(event["type"] == "step" for event in received)


def test_a_client_of_one_server_watches_a_match_another_plays(tmp_path: Path, channel: str) -> None:
    environ = {
        "DEVSPARK_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "DEVSPARK_REDIS_URL": REDIS_URL,
        "DEVSPARK_RATE_LIMIT": "off",
        "DEVSPARK_RATE_LIMIT_IP": "off",
    }
    playing = create_app(Settings.from_env(data_dir=tmp_path / "a", environ=environ), hasher=CHEAP)
    serving = create_app(Settings.from_env(data_dir=tmp_path / "b", environ=environ), hasher=CHEAP)
    with TestClient(playing) as player, TestClient(serving) as server:
        assert player.app.state.runner.holding  # type: ignore[attr-defined]
        assert not server.app.state.runner.holding  # type: ignore[attr-defined]
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
            playing.state.runner.submit_match(match_id)
            events: list[dict[str, Any]] = []
            while not events or events[-1]["type"] != "match_finished":
                events.append(ws.receive_json())
    steps = [e for e in events if e["type"] == "step"]
    assert steps and steps[0]["step"] == -1  # every step, from the other server
    assert events[-1]["match_id"] == str(match_id)
