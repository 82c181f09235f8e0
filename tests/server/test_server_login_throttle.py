"""The per-account login throttle: backoff doubles, is capped, resets, shared over Redis."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
from limits.aio.storage import Storage
from limits.storage import storage_from_string

from devspark.core.errors import ResourceExhaustedError
from devspark.server.login_throttle import LoginThrottle
from devspark.server.ratelimit import MEMORY_STORAGE, storage_uri

REDIS_URL = "redis://127.0.0.1:6379/0"


def _storage(uri: str) -> Storage:
    options = {"implementation": "redispy"} if uri.startswith("async+redis") else {}
    built = storage_from_string(uri, wrap_exceptions=True, **options)
    assert isinstance(built, Storage)
    return built


def test_backoff_doubles_after_the_threshold_and_is_capped() -> None:
    throttle = LoginThrottle(_storage(MEMORY_STORAGE), threshold=5, base=1, cap=300)
    delays = [throttle.delay(n) for n in range(1, 16)]
    assert delays == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert throttle.delay(10_000) == 300  # bounded: an attacker cannot lock anyone for long


def test_failures_lock_then_success_unlocks() -> None:
    async def scenario() -> None:
        throttle = LoginThrottle(_storage(MEMORY_STORAGE), threshold=3, base=30, cap=60)
        assert [await throttle.failed("Ada") for _ in range(4)] == [0, 0, 30, 60]
        with pytest.raises(ResourceExhaustedError) as refused:
            await throttle.check("ada ")  # the same account, as login normalises it
        assert refused.value.retry_after is not None and 1 <= refused.value.retry_after <= 60
        await throttle.check("bob")  # another account is free
        await throttle.succeeded("ada")
        await throttle.check("ada")
        assert await throttle.failed("ada") == 0  # counting starts afresh

    asyncio.run(scenario())


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.integration
def test_two_processes_share_the_throttle_through_redis() -> None:
    if not _redis_reachable():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    namespace = f"devspark-test-{uuid.uuid4().hex}"

    async def scenario() -> None:
        first, second = (
            LoginThrottle(_storage(storage_uri(REDIS_URL)), base=60, namespace=namespace)
            for _ in range(2)
        )
        for throttle in (first, second, first, second, first):  # 5 failures between them
            await throttle.failed("ada")
        with pytest.raises(ResourceExhaustedError):
            await second.check("ada")
        await first.succeeded("ada")
        await second.check("ada")

    asyncio.run(scenario())
