"""Rate limits on the wire: per IP, per caller, headers, exemptions, Redis storage."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from devspark.app import create_app
from devspark.core.errors import InvalidArgumentError, ResourceExhaustedError
from devspark.server.errors import HTTP_STATUS
from devspark.server.ratelimit import (
    EXEMPT_PATHS,
    MEMORY_STORAGE,
    RateLimitMiddleware,
    RequestLimiter,
    storage_uri,
)
from devspark.server.settings import Settings
from devspark.services.accounts import TokenService

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
REDIS_URL = "redis://127.0.0.1:6379/0"
READ = "/api/v1/scenarios"


def make_settings(tmp_path: Path, environ: dict[str, str], **limits: str) -> Settings:
    return Settings.from_env(data_dir=tmp_path / "data", environ=environ, **limits)


@pytest.fixture
def app(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[FastAPI]:
    limits = {"rate_limit": "3/minute", "rate_limit_ip": "5/minute"}
    application = create_app(make_settings(tmp_path, server_environ, **limits), hasher=CHEAP)
    with TestClient(application):  # run startup (migrations) once for every client below
        yield application


def client_from(app: FastAPI, ip: str) -> TestClient:
    return TestClient(app, client=(ip, 50000))


def token_for(app: FastAPI, username: str) -> str:
    """Register and log in ``username`` from an IP of its own (so setup costs no quota)."""
    setup = client_from(app, f"10.99.{len(username)}.{sum(map(ord, username)) % 250}")
    credentials = {"username": username, "password": PASSWORD}
    assert setup.post("/api/v1/auth/register", json=credentials).status_code == 201
    response = setup.post("/api/v1/auth/login", json=credentials)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_exhausted(response: Any) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "resource_exhausted"
    assert "rate limit" in error["message"]
    assert error["correlation_id"] == response.headers["X-Request-ID"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"


# --- settings ---------------------------------------------------------------------------


def test_settings_read_rate_limits_and_redis_from_env(tmp_path: Path) -> None:
    defaults = Settings.from_env(data_dir=tmp_path, environ={})
    assert (defaults.rate_limit, defaults.rate_limit_ip, defaults.redis_url) == (
        "120/minute",
        "600/minute",
        None,
    )
    env = {
        "DEVSPARK_RATE_LIMIT": "10/second",
        "DEVSPARK_RATE_LIMIT_IP": "OFF",
        "DEVSPARK_REDIS_URL": REDIS_URL,
    }
    configured = Settings.from_env(data_dir=tmp_path, environ=env)
    assert (configured.rate_limit, configured.rate_limit_ip, configured.redis_url) == (
        "10/second",
        "off",
        REDIS_URL,
    )


def test_settings_reject_bad_rate_limits(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"rate_limit='lots'.*couldn't parse"):
        Settings.from_env(data_dir=tmp_path, environ={"DEVSPARK_RATE_LIMIT": "lots"})
    with pytest.raises(InvalidArgumentError, match=r"redis_url='http://x'"):
        Settings.from_env(data_dir=tmp_path, environ={"DEVSPARK_REDIS_URL": "http://x"})


def test_storage_uri_maps_redis_urls_to_async_storages() -> None:
    assert storage_uri(None) == MEMORY_STORAGE
    assert storage_uri("redis://h:6379/1") == "async+redis://h:6379/1"
    assert storage_uri("rediss://h") == "async+rediss://h"
    assert storage_uri("unix:///run/redis.sock") == "async+redis+unix:///run/redis.sock"


# --- per IP -----------------------------------------------------------------------------


def test_ip_limit_refuses_one_ip_but_not_another(app: FastAPI) -> None:
    noisy, quiet = client_from(app, "192.0.2.1"), client_from(app, "192.0.2.2")
    remaining = [int(noisy.get(READ).headers["X-RateLimit-Remaining"]) for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    assert_exhausted(noisy.get(READ))
    response = quiet.get(READ)
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"


def test_headers_on_an_allowed_response(app: FastAPI) -> None:
    response = client_from(app, "192.0.2.3").get(READ)
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"
    assert 1 <= int(response.headers["X-RateLimit-Reset"]) <= 60
    assert "Retry-After" not in response.headers


def test_refusals_are_counted_by_metrics(app: FastAPI) -> None:
    client = client_from(app, "192.0.2.4")
    for _ in range(6):
        client.get(READ)
    metrics = client.get("/metrics").text
    assert 'status="429"' in metrics


# --- per caller -------------------------------------------------------------------------


def test_user_limit_follows_the_user_across_ips(app: FastAPI) -> None:
    ada, bob = token_for(app, "ada"), token_for(app, "bob")
    for i in range(3):
        response = client_from(app, f"198.51.100.{i}").get(READ, headers=bearer(ada))
        assert response.status_code == 200
    # A fresh IP (its own limit untouched) does not help a user whose quota is spent.
    assert_exhausted(client_from(app, "198.51.100.50").get(READ, headers=bearer(ada)))
    # Another user from an IP ada used is unaffected by ada's quota.
    response = client_from(app, "198.51.100.0").get(READ, headers=bearer(bob))
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "3"  # the tighter of user 3, IP 5
    assert response.headers["X-RateLimit-Remaining"] == "2"


def test_api_keys_have_their_own_limit_and_bad_tokens_only_the_ip_one(app: FastAPI) -> None:
    client = client_from(app, "203.0.113.7")
    key = {"X-API-Key": "dsk_0123456789ab_notarealsecret"}
    assert [client.get(READ, headers=key).status_code for _ in range(3)] == [200, 200, 200]
    assert_exhausted(client.get(READ, headers=key))
    # An invalid bearer token names no user: only the IP limit (5, two left) applies.
    response = client.get(READ, headers=bearer("not-a-jwt"))
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "5"


def test_off_disables_a_limit(tmp_path: Path, server_environ: dict[str, str]) -> None:
    limits = {"rate_limit": "off", "rate_limit_ip": "off"}
    application = create_app(make_settings(tmp_path, server_environ, **limits), hasher=CHEAP)
    with TestClient(application) as client:
        responses = [client.get(READ) for _ in range(20)]
    assert {r.status_code for r in responses} == {200}
    assert "X-RateLimit-Limit" not in responses[0].headers


# --- exemptions and OpenAPI ---------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXEMPT_PATHS))
def test_probes_and_metrics_are_exempt(app: FastAPI, path: str) -> None:
    client = client_from(app, "192.0.2.99")
    for _ in range(5):
        client.get(READ)
    assert client.get(READ).status_code == 429
    responses = [client.get(path) for _ in range(10)]
    assert {r.status_code for r in responses} == {200}
    assert "X-RateLimit-Limit" not in responses[0].headers


def test_openapi_declares_429_except_on_exempt_paths(app: FastAPI) -> None:
    paths = client_from(app, "192.0.2.100").get("/openapi.json").json()["paths"]
    assert "429" in paths[READ]["get"]["responses"]
    assert "429" in paths["/api/v1/auth/login"]["post"]["responses"]
    for path in EXEMPT_PATHS:
        assert "429" not in paths[path]["get"]["responses"]


def test_resource_exhausted_error_maps_to_429_with_retry_after(
    tmp_path: Path, server_environ: dict[str, str]
) -> None:
    assert HTTP_STATUS["resource_exhausted"] == 429
    application = create_app(make_settings(tmp_path, server_environ), hasher=CHEAP)

    @application.get("/quota")
    def quota() -> None:
        raise ResourceExhaustedError("quota of 'matches' used up", retry_after=2.2)

    with TestClient(application) as client:
        response = client.get("/quota")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["error"]["code"] == "resource_exhausted"


# --- Redis storage ------------------------------------------------------------------------


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.integration
def test_redis_storage_shares_counters_between_apps(tmp_path: Path) -> None:
    if not _redis_reachable():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    tokens = TokenService("k" * 40)
    namespace = f"devspark-test-{uuid.uuid4().hex}"

    def limiter() -> RequestLimiter:
        return RequestLimiter(
            per_user="2/minute",
            per_ip="3/minute",
            tokens=tokens,
            storage=storage_uri(REDIS_URL),
            namespace=namespace,
        )

    async def scenario() -> None:
        # Two server processes sharing one Redis; the random namespace keeps this test's
        # counters apart, and they expire with their one-minute window.
        first, second = limiter(), limiter()
        verdicts = [await first.count(ip="192.0.2.1", caller=None) for _ in range(2)]
        verdicts.append(await second.count(ip="192.0.2.1", caller=None))
        assert [v.remaining for v in verdicts if v is not None] == [2, 1, 0]
        refused = await second.count(ip="192.0.2.1", caller=None)
        assert refused is not None and not refused.allowed and refused.reset_in >= 1
        user = await first.count(ip="192.0.2.3", caller="user:u1")
        assert user is not None and (user.scope, user.remaining) == ("user", 1)
        other = await first.count(ip="192.0.2.2", caller=None)
        assert other is not None and other.allowed and other.remaining == 2

    asyncio.run(scenario())


@pytest.mark.integration
def test_app_with_redis_url_limits_through_redis(
    tmp_path: Path, server_environ: dict[str, str]
) -> None:
    if not _redis_reachable():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    limits = {"rate_limit_ip": "2/minute", "redis_url": REDIS_URL}
    settings = make_settings(tmp_path, server_environ, **limits)
    application = create_app(settings, hasher=CHEAP)
    middleware = next(m for m in application.user_middleware if m.cls is RateLimitMiddleware)
    limiter: RequestLimiter = middleware.kwargs["limiter"]
    assert type(limiter.storage).__name__ == "RedisStorage"
    limiter.namespace = f"devspark-test-{uuid.uuid4().hex}"
    with TestClient(application, client=("192.0.2.77", 1)) as client:
        codes = [client.get(READ).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
