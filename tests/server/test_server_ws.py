"""``/api/v1/ws``: auth, tournament progress, bad frames, caps and rate limits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from devspark.app import create_app
from devspark.server.routes.ws import (
    CLOSE_RATE_LIMITED,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHENTICATED,
    CLOSE_UNSUPPORTED_DATA,
    MAX_MESSAGE_CHARS,
)
from devspark.server.settings import Settings
from devspark.services.live import DEFAULT_MAX_TOPICS, tournament_topic

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
WS = "/api/v1/ws"
TOURNAMENTS = "/api/v1/tournaments"
BODY: dict[str, Any] = {
    "scenario": "tictactoe",
    "format": "round_robin",
    "agents": ["builtin:minimax", "builtin:random"],
    "rounds": 2,
    "seed": 3,
    "isolation": "trusted",
}


@pytest.fixture
def client(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)
    with TestClient(create_app(settings, hasher=CHEAP)) as test_client:
        yield test_client


def login(client: TestClient, username: str) -> str:
    """Register and log in ``username``; return its access token."""
    created = client.post(
        "/api/v1/auth/register", json={"username": username, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    tokens = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    token: str = tokens.json()["access_token"]
    return token


def receive(ws: WebSocketTestSession) -> dict[str, Any]:
    message: dict[str, Any] = ws.receive_json()
    return message


def refused(ws: WebSocketTestSession) -> dict[str, Any]:
    """The error message of a refused socket, after checking it closes with 4401."""
    error = receive(ws)
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    assert closed.value.code == CLOSE_UNAUTHENTICATED
    return error


# --- the WebSocket route -------------------------------------------------------------


def test_no_credentials_is_refused_with_4401(client: TestClient) -> None:
    with client.websocket_connect(WS) as ws:
        ws.send_json({"type": "subscribe", "topic": f"tournament:{uuid.uuid4()}"})
        error = refused(ws)
    assert error["type"] == "error" and error["code"] == "unauthenticated"


def test_bad_token_and_bad_key_are_refused(client: TestClient) -> None:
    with client.websocket_connect(f"{WS}?token=not-a-jwt") as ws:
        assert refused(ws)["code"] == "unauthenticated"
    with client.websocket_connect(WS, headers={"X-API-Key": "dsk_nope_nope"}) as ws:
        assert refused(ws)["type"] == "error"


def test_auth_by_query_message_and_api_key(client: TestClient) -> None:
    token = login(client, "ada")
    with client.websocket_connect(f"{WS}?token={token}") as ws:
        assert receive(ws) == {"type": "welcome", "user": "ada", "role": "user"}
        ws.send_json({"type": "ping"})
        assert receive(ws) == {"type": "pong"}
    with client.websocket_connect(WS) as ws:
        ws.send_json({"type": "auth", "token": token})
        assert receive(ws)["type"] == "welcome"
    key = client.post(
        "/api/v1/users/me/api-keys",
        json={"name": "ci", "scopes": ["users:read"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert key.status_code == 201, key.text
    with client.websocket_connect(WS, headers={"X-API-Key": key.json()["key"]}) as ws:
        assert receive(ws)["user"] == "ada"


def test_bad_messages_get_errors_not_a_close(client: TestClient) -> None:
    with client.websocket_connect(f"{WS}?token={login(client, 'ada')}") as ws:
        receive(ws)
        ws.send_json({"type": "subscribe", "topic": "agent:1"})
        assert receive(ws)["code"] == "invalid_argument"
        ws.send_text("not json")
        assert receive(ws)["code"] == "invalid_argument"
        ws.send_json({"type": "dance"})
        assert receive(ws)["code"] == "invalid_argument"
        topic = f"match:{uuid.uuid4()}"
        ws.send_json({"type": "unsubscribe", "topic": topic.upper().replace("MATCH", "match")})
        assert receive(ws) == {"type": "unsubscribed", "topic": topic}


def test_subscriber_receives_the_progress_of_a_tournament(client: TestClient) -> None:
    token = login(client, "ada")
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post(TOURNAMENTS, json=BODY, headers=headers)
    assert created.status_code == 201, created.text
    tournament_id = created.json()["id"]
    topic = tournament_topic(tournament_id)
    events: list[dict[str, Any]] = []
    with client.websocket_connect(f"{WS}?token={token}") as ws:
        receive(ws)
        ws.send_json({"type": "subscribe", "topic": topic})
        assert receive(ws) == {"type": "subscribed", "topic": topic}
        started = client.post(f"{TOURNAMENTS}/{tournament_id}/start", headers=headers)
        assert started.status_code == 202, started.text
        while not events or events[-1] != {
            "topic": topic,
            "type": "tournament",
            "tournament_id": tournament_id,
            "status": "finished",
        }:
            events.append(receive(ws))
    assert events[0]["type"] == "tournament" and events[0]["status"] == "running"
    assert all(e["topic"] == topic for e in events)
    started_events = [e for e in events if e["type"] == "match_started"]
    finished_events = [e for e in events if e["type"] == "match_finished"]
    matches = client.get(f"{TOURNAMENTS}/{tournament_id}/matches").json()
    assert len(finished_events) == len(started_events) == matches["total"] > 0
    assert {e["match_id"] for e in finished_events} == {m["id"] for m in matches["items"]}
    for event in finished_events:
        assert sorted(event["agents"]) == sorted(BODY["agents"])
        assert len(event["rewards"]) == 2 and event["steps"] > 0


# --- robustness: bad frames, caps, rate limits ----------------------------------------


@pytest.fixture
def limited(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[TestClient]:
    """An app whose WebSocket limits are small enough to reach in a test."""
    settings = Settings.from_env(
        data_dir=tmp_path / "data",
        environ=server_environ,
        ws_connect_limit="3/minute",
        ws_message_limit="5/minute",
    )
    with TestClient(create_app(settings, hasher=CHEAP)) as test_client:
        yield test_client


def closed_with(ws: WebSocketTestSession, code: int) -> dict[str, Any]:
    """The error message sent before the close, after checking the close code."""
    error = receive(ws)
    assert error["type"] == "error", error
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    assert closed.value.code == code
    return error


def test_a_binary_frame_closes_with_1003_and_an_error(client: TestClient) -> None:
    with client.websocket_connect(f"{WS}?token={login(client, 'ada')}") as ws:
        receive(ws)
        ws.send_bytes(b'{"type": "ping"}')
        error = closed_with(ws, CLOSE_UNSUPPORTED_DATA)
    assert error["code"] == "invalid_argument" and "binary" in error["message"]


def test_a_binary_auth_frame_closes_with_1003(client: TestClient) -> None:
    with client.websocket_connect(WS) as ws:
        ws.send_bytes(b"\x00\x01")
        assert closed_with(ws, CLOSE_UNSUPPORTED_DATA)["code"] == "invalid_argument"


def test_deeply_nested_json_is_an_error_and_the_socket_stays_open(client: TestClient) -> None:
    depth = 2000  # past the decoder's recursion limit, under the message size cap
    with client.websocket_connect(f"{WS}?token={login(client, 'ada')}") as ws:
        receive(ws)
        ws.send_text("[" * depth + "]" * depth)
        error = receive(ws)
        assert error == {
            "type": "error",
            "code": "invalid_argument",
            "message": "message nests too deeply",
        }
        ws.send_json({"type": "ping"})
        assert receive(ws) == {"type": "pong"}


def test_an_oversized_message_closes_with_1009(client: TestClient) -> None:
    with client.websocket_connect(f"{WS}?token={login(client, 'ada')}") as ws:
        receive(ws)
        ws.send_text(" " * (MAX_MESSAGE_CHARS + 1))
        error = closed_with(ws, CLOSE_TOO_BIG)
    assert f"over the limit of {MAX_MESSAGE_CHARS}" in error["message"]


def test_subscriptions_per_socket_are_capped(client: TestClient) -> None:
    topics = [f"match:{uuid.uuid4()}" for _ in range(DEFAULT_MAX_TOPICS + 1)]
    with client.websocket_connect(f"{WS}?token={login(client, 'ada')}") as ws:
        receive(ws)
        for topic in topics[:-1]:
            ws.send_json({"type": "subscribe", "topic": topic})
            assert receive(ws) == {"type": "subscribed", "topic": topic}
        ws.send_json({"type": "subscribe", "topic": topics[-1]})
        error = receive(ws)
        assert (error["code"], error["limit"]) == ("resource_exhausted", DEFAULT_MAX_TOPICS)
        assert f"at most {DEFAULT_MAX_TOPICS} topics" in error["message"]
        # Still open; an unsubscribe makes room again.
        ws.send_json({"type": "unsubscribe", "topic": topics[0]})
        assert receive(ws)["type"] == "unsubscribed"
        ws.send_json({"type": "subscribe", "topic": topics[-1]})
        assert receive(ws) == {"type": "subscribed", "topic": topics[-1]}
    assert client.app.state.live.subscribers == 0  # type: ignore[attr-defined]


def test_messages_per_socket_are_rate_limited(limited: TestClient) -> None:
    with limited.websocket_connect(f"{WS}?token={login(limited, 'ada')}") as ws:
        receive(ws)
        for _ in range(5):
            ws.send_json({"type": "ping"})
            assert receive(ws) == {"type": "pong"}
        ws.send_json({"type": "ping"})
        error = closed_with(ws, CLOSE_RATE_LIMITED)
    assert error["code"] == "resource_exhausted"
    assert "5 per 1 minute messages per connection" in error["message"]
    assert 1 <= error["retry_after"] <= 60


def test_connects_per_ip_are_rate_limited(limited: TestClient) -> None:
    token = login(limited, "ada")
    for _ in range(3):
        with limited.websocket_connect(f"{WS}?token={token}") as ws:
            assert receive(ws)["type"] == "welcome"
    with limited.websocket_connect(f"{WS}?token={token}") as ws:
        error = closed_with(ws, CLOSE_RATE_LIMITED)
    assert error["code"] == "resource_exhausted" and "connects per IP" in error["message"]
