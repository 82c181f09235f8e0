"""Requests refused at the door: body caps (413), uploads read only after auth, NUL (422)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from devspark.app import create_app
from devspark.server import guards
from devspark.server.settings import Settings

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
AGENTS = "/api/v1/agents"
CHUNK = 64 << 10
MAX_BODY = 4096
MAX_UPLOAD = 256 << 10
BOUNDARY = "devsparkboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.fixture
def client(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings.from_env(
        data_dir=tmp_path / "data",
        environ=server_environ,
        max_body_bytes=MAX_BODY,
        max_upload_bytes=MAX_UPLOAD,
    )
    with TestClient(create_app(settings, hasher=CHEAP)) as test_client:
        yield test_client


def bearer(client: TestClient) -> dict[str, str]:
    credentials = {"username": "ada", "password": PASSWORD}
    assert client.post("/api/v1/auth/register", json=credentials).status_code == 201
    token = client.post("/api/v1/auth/login", json=credentials).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


class CountingUpload:
    """A multipart upload of ``total`` bytes, streamed chunk by chunk; counts what was read."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.tar.gz"\r\nContent-Type: application/gzip\r\n\r\n'
        ).encode()
        self.read += len(head)
        yield head
        while self.read < self.total:
            self.read += CHUNK
            yield b"\0" * CHUNK


def stream(
    client: TestClient,
    method: str,
    path: str,
    body: CountingUpload | StalledBody,
    headers: dict[str, str],
) -> httpx.Response:
    """Send ``body`` through ASGI on the app's own loop, pulled only as the app reads it."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.request(method, path, content=body, headers=headers)

    assert client.portal is not None
    return client.portal.call(send)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# --- uploads: authenticated before their body is read --------------------------------


def test_unauthenticated_upload_is_401_before_its_body_is_read(client: TestClient) -> None:
    body = CountingUpload(200 << 20)  # 200 MiB, chunked: no Content-Length to judge by
    response = stream(client, "POST", AGENTS, body, {"Content-Type": MULTIPART})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"
    assert body.read == 0  # not even the first chunk was pulled


def test_unauthenticated_upload_of_a_new_version_is_401_unread(client: TestClient) -> None:
    body = CountingUpload(200 << 20)
    path = f"{AGENTS}/0b6f7c1e-3f0a-4d53-9f0e-2f1c5b8a9d10"
    response = stream(client, "PUT", path, body, {"Content-Type": MULTIPART})
    assert response.status_code == 401 and body.read == 0


def test_declared_oversize_upload_is_413_before_its_body_is_read(client: TestClient) -> None:
    body = CountingUpload(200 << 20)
    headers = {**bearer(client), "Content-Type": MULTIPART, "Content-Length": str(200 << 20)}
    response = stream(client, "POST", AGENTS, body, headers)
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "resource_exhausted"
    assert f"over the limit of {MAX_UPLOAD} bytes" in error["message"]
    assert error["correlation_id"] == response.headers["X-Request-ID"]
    assert body.read == 0


def test_authenticated_chunked_oversize_upload_is_413_once_the_cap_is_crossed(
    client: TestClient,
) -> None:
    body = CountingUpload(8 << 20)
    headers = {**bearer(client), "Content-Type": MULTIPART}
    response = stream(client, "POST", AGENTS, body, headers)
    assert response.status_code == 413
    assert error_of(response)["code"] == "resource_exhausted"
    assert MAX_UPLOAD < body.read <= MAX_UPLOAD + 2 * CHUNK  # stopped at the cap


def test_an_upload_within_the_cap_still_reaches_the_registry(client: TestClient) -> None:
    files = {"file": ("bot.tar.gz", b"not an archive", "application/gzip")}
    response = client.post(AGENTS, files=files, headers=bearer(client))
    assert response.status_code == 422  # read and judged by the registry, not capped
    assert "413" not in response.text


def test_upload_without_a_file_field_is_422_naming_it(client: TestClient) -> None:
    response = client.post(AGENTS, data={"other": "x"}, headers=bearer(client))
    assert response.status_code == 422
    assert error_of(response)["message"].startswith("file:")


def test_a_broken_multipart_body_is_422_not_400(client: TestClient) -> None:
    headers = {**bearer(client), "Content-Type": "multipart/form-data"}  # no boundary
    response = client.post(AGENTS, content=b"garbage", headers=headers)
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_argument"


# --- every other body: the general cap -----------------------------------------------


def test_json_body_over_the_general_cap_is_413(client: TestClient) -> None:
    headers = bearer(client)
    big = {"scenario": "tictactoe", "agents": ["builtin:random"] * 1000}
    response = client.post("/api/v1/matches", json=big, headers=headers)
    assert response.status_code == 413
    assert f"over the limit of {MAX_BODY} bytes" in error_of(response)["message"]


def test_chunked_json_body_over_the_general_cap_is_413(client: TestClient) -> None:
    body = CountingUpload(1 << 20)
    headers = {**bearer(client), "Content-Type": "application/json"}
    response = stream(client, "POST", "/api/v1/matches", body, headers)
    assert response.status_code == 413
    assert body.read <= MAX_BODY + 2 * CHUNK


class StalledBody:
    """A body that sends its first bytes, then nothing more (a slowloris client)."""

    def __init__(self) -> None:
        self.never = asyncio.Event()  # never set: the rest of the body never comes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"username": "ada", '
        await self.never.wait()
        yield b"}"


def test_a_body_that_stops_arriving_is_408_after_the_deadline(
    tmp_path: Path, server_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a deadline the server waited for the rest of the body for ever: one client
    # could hold hundreds of connections open (581 of 600 still open after 70 s).
    monkeypatch.setattr(guards, "BODY_DEADLINE_S", 0.2)
    path = "/api/v1/auth/login"
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)
    with TestClient(create_app(settings, hasher=CHEAP)) as slow_client:
        headers = {"Content-Type": "application/json", "Content-Length": "64"}
        response = stream(slow_client, "POST", path, StalledBody(), headers)
    assert response.status_code == 408
    assert response.headers["connection"] == "close"
    error = error_of(response)
    assert error["code"] == "deadline_exceeded"
    assert f"did not arrive within 0.2 s for POST {path}" in error["message"]


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("not called")


def test_upload_and_body_deadlines_are_told_apart() -> None:
    middleware = guards.BodySizeLimitMiddleware(
        _no_app, max_body=1, max_upload=2, body_deadline=3.0, upload_deadline=4.0
    )
    assert middleware.deadline_for("POST", "/api/v1/agents") == 4.0
    assert middleware.deadline_for("PUT", "/api/v1/agents/x") == 4.0
    assert middleware.deadline_for("POST", "/api/v1/auth/login") == 3.0


# --- NUL characters in query strings and paths ---------------------------------------


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/matches?agent=%00x", "query.agent"),
        ("/api/v1/matches?scenario=tic%00tactoe&agent=builtin:random", "query.scenario"),
        ("/api/v1/leaderboards/head-to-head?agent=a%00", "query.agent"),
        ("/api/v1/agents?owner=%00", "query.owner"),
    ],
)
def test_nul_in_a_query_filter_is_422_naming_the_parameter(
    client: TestClient, path: str, parameter: str
) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    assert error["message"].startswith(f"{parameter}: NUL characters are not allowed")
    assert "\\x00" in error["message"]  # the bad value, shown escaped


def test_nul_in_a_path_is_422(client: TestClient) -> None:
    response = client.get("/api/v1/scenarios/tic%00tactoe")
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("path: NUL")


def test_a_query_without_nul_is_untouched(client: TestClient) -> None:
    response = client.get("/api/v1/matches?agent=builtin:random")
    assert response.status_code == 200
