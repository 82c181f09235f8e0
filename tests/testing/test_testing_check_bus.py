"""The bus conformance kit passes on every backend and fails, naming the check, on a broken one."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

import pytest

import devspark.testing
from devspark.bus import memory as memory_backend
from devspark.bus.memory import MemoryTransport
from devspark.testing.check_bus import CHECKS, check_bus

NATS_URL = os.environ.get("DEVSPARK_TEST_NATS_URL", "nats://127.0.0.1:4222")


def test_check_bus_passes_on_memory() -> None:
    check_bus("memory://")
    check_bus("memory://check-bus-test")


def test_check_bus_is_exported_from_devspark_testing() -> None:
    assert devspark.testing.check_bus is check_bus


@pytest.mark.integration
def test_check_bus_passes_on_redis(redis_url: str) -> None:
    check_bus(redis_url)


@pytest.mark.integration
def test_check_bus_passes_on_nats() -> None:
    host, _, port = NATS_URL.removeprefix("nats://").partition(":")
    try:
        socket.create_connection((host, int(port or 4222)), timeout=2).close()
    except OSError as exc:
        pytest.skip(f"NATS is not reachable at {NATS_URL}: {exc}")
    check_bus(NATS_URL)


class _StarIsGreedy(MemoryTransport):
    """Broken: '*' matches any number of tokens (a naive glob translation)."""

    async def publish(self, channel: str, data: bytes) -> None:
        for subscription in list(self.broker.subscriptions):
            want = subscription.pattern.replace("*", ">").split(".")
            have = channel.split(".")
            if want[: len(have)] == have or (
                ">" in want and have[: want.index(">")] == want[: want.index(">")]
            ):
                subscription.offer(channel, data)


class _CloseIgnored(MemoryTransport):
    """Broken: closing a subscription does not stop it receiving."""

    async def subscribe(self, pattern: str) -> memory_backend._MemorySubscription:
        subscription = await super().subscribe(pattern)

        async def close() -> None:
            return None

        subscription.close = close  # type: ignore[method-assign]
        return subscription


class _AckIgnored(MemoryTransport):
    """Broken: an acknowledged message still comes back after its visibility timeout."""

    async def take(
        self, queue: str, *, visibility_ms: int, timeout_s: float
    ) -> memory_backend._MemoryDelivery | None:
        delivery = await super().take(queue, visibility_ms=visibility_ms, timeout_s=timeout_s)
        if delivery is not None:

            async def ack() -> None:
                return None

            delivery.ack = ack  # type: ignore[method-assign]
        return delivery


class _BatchReversed(MemoryTransport):
    """Broken: the messages of a batch arrive last first."""

    async def publish_many(self, channel: str, messages: Sequence[bytes]) -> None:
        for data in reversed(messages):
            await self.publish(channel, data)


class _BatchTruncated(MemoryTransport):
    """Broken: only the first wire message of a batch is sent."""

    async def publish_many(self, channel: str, messages: Sequence[bytes]) -> None:
        await self.publish(channel, messages[0])


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            _StarIsGreedy,
            r"^check_bus\(memory://\): wildcard '\*' one token: .* '\*' matched two tokens$",
        ),
        (_CloseIgnored, r"^check_bus\(memory://\): closed subscription: a closed subscription "),
        (_AckIgnored, r"^check_bus\(memory://\): queue enqueue/take/ack: an acknowledged message"),
        (_BatchReversed, r"^check_bus\(memory://\): publish_many over max_bytes: a batch larger"),
        (
            _BatchTruncated,
            r"^check_bus\(memory://\): publish_many over max_bytes: large batch message 2 did not",
        ),
    ],
    ids=[
        "star-greedy",
        "close-ignored",
        "ack-ignored",
        "batch-reversed",
        "batch-truncated",
    ],
)
def test_check_bus_fails_on_a_broken_backend_naming_the_check(
    monkeypatch: pytest.MonkeyPatch, broken: type[MemoryTransport], message: str
) -> None:
    monkeypatch.setattr(memory_backend, "MemoryTransport", broken)
    with pytest.raises(AssertionError, match=message):
        check_bus("memory://")


def test_check_bus_names_an_unknown_scheme_as_a_connect_failure() -> None:
    with pytest.raises(AssertionError, match=r"^check_bus\(nope://x\): connect: .*scheme"):
        check_bus("nope://x")


def test_check_bus_names_an_unreachable_server_as_a_connect_failure() -> None:
    with pytest.raises(AssertionError, match=r"^check_bus\(redis://127.0.0.1:1/0\): connect: "):
        check_bus("redis://127.0.0.1:1/0")


def test_every_check_has_a_distinct_name() -> None:
    names = [name for name, _ in CHECKS]
    assert len(set(names)) == len(names) >= 26
