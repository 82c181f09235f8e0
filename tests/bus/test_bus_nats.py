"""The NATS backend against the real server (127.0.0.1:4222, or ``DEVSPARK_TEST_NATS_URL``).

Every test uses channels and queues under a prefix of its own, deletes the JetStream
consumers it made and purges its queues' subjects afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from urllib.parse import urlsplit

import nats
import nats.js.errors
import pytest

from devspark.bus import Bus, connect, dead_letters
from devspark.bus.nats import (
    PENDING_MSGS,
    STREAM,
    NatsTransport,
    consumer_name,
    queue_subject,
)
from devspark.core.errors import FailedPreconditionError
from devspark.testing.check_bus import check_bus

pytestmark = pytest.mark.integration

NATS_URL = os.environ.get("DEVSPARK_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture
def nats_url() -> str:
    """The test NATS; skips when it is down."""
    parts = urlsplit(NATS_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 2).close()
    except OSError as exc:
        pytest.skip(f"NATS is not reachable at {NATS_URL}: {exc}")
    return NATS_URL


@pytest.fixture
def prefix() -> str:
    """Channel and queue names of this test's own."""
    return f"t{uuid.uuid4().hex[:12]}"


async def _cleanup(url: str, queues: list[str]) -> None:
    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    js = nc.jetstream()
    try:
        for queue in queues:
            for name in (queue, dead_letters(queue)):
                with suppress(nats.js.errors.NotFoundError):
                    await js.delete_consumer(STREAM, consumer_name(name))
                with suppress(nats.js.errors.NotFoundError):
                    await js.purge_stream(STREAM, subject=queue_subject(name))
    finally:
        await nc.close()


@asynccontextmanager
async def _bus(url: str, queues: list[str], *, max_attempts: int = 5) -> AsyncIterator[Bus]:
    """A bus on ``url``; afterwards the consumers and messages of ``queues`` are removed."""
    bus = await connect(url, max_attempts=max_attempts)
    try:
        async with bus:
            yield bus
    finally:
        await _cleanup(url, queues)


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def test_connect_picks_nats_and_an_unreachable_server_fails_fast() -> None:
    async def test() -> None:
        port = socket.socket()
        port.bind(("127.0.0.1", 0))
        free = port.getsockname()[1]
        port.close()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(FailedPreconditionError, match="cannot reach NATS"):
            await connect(f"nats://127.0.0.1:{free}")
        assert loop.time() - started < 5

    _run(test)


def test_the_transport_is_nats_and_close_releases_the_connection(nats_url: str) -> None:
    async def test() -> None:
        bus = await connect(nats_url)
        assert isinstance(bus.transport, NatsTransport)
        subscription = await bus.subscribe("anything.>")
        await bus.close()
        assert bus.transport._nc.is_closed
        assert await subscription.get(0.2) is None

    _run(test)


def test_wildcards_follow_nats_semantics(nats_url: str, prefix: str) -> None:
    async def test() -> None:
        async with _bus(nats_url, []) as bus:
            one = await bus.subscribe(f"{prefix}.team.*")
            rest = await bus.subscribe(f"{prefix}.team.>")
            for channel in (f"{prefix}.team", f"{prefix}.team.red", f"{prefix}.team.red.moves"):
                await bus.publish(channel, channel)
            await bus.publish(f"{prefix}.end.x", "end")
            await bus.publish(f"{prefix}.team.end", "end")
            assert [(await one.get(5)).payload for _ in range(2)] == [  # type: ignore[union-attr]
                f"{prefix}.team.red",
                "end",
            ]
            got = [(await rest.get(5)).payload for _ in range(3)]  # type: ignore[union-attr]
            assert got == [f"{prefix}.team.red", f"{prefix}.team.red.moves", "end"]

    _run(test)


def test_request_response_between_two_connections(nats_url: str, prefix: str) -> None:
    async def test() -> None:
        async with _bus(nats_url, []) as server, _bus(nats_url, []) as client:
            questions = await server.subscribe(f"{prefix}.svc.add")

            async def answer() -> None:
                question = await questions.get(5)
                assert question is not None
                await server.reply(question, sum(question.payload))

            answering = asyncio.create_task(answer())
            response = await client.request(f"{prefix}.svc.add", [2, 3], timeout_ms=5000)
            await answering
            assert response.kind == "response"
            assert response.payload == 5

    _run(test)


def test_a_closed_subscription_stops_receiving(nats_url: str, prefix: str) -> None:
    async def test() -> None:
        async with _bus(nats_url, []) as bus:
            closed = await bus.subscribe(f"{prefix}.news")
            waiting = asyncio.create_task(closed.get())
            await asyncio.sleep(0)
            await closed.close()
            assert await waiting is None
            await bus.publish(f"{prefix}.news", "late")
            assert await closed.get(0.2) is None

    _run(test)


def test_a_slow_subscriber_never_blocks_the_publisher(nats_url: str, prefix: str) -> None:
    async def test() -> None:
        async with _bus(nats_url, []) as bus, _bus(nats_url, []) as publisher:
            slow_transport = bus.transport
            assert isinstance(slow_transport, NatsTransport)
            slow = await slow_transport.subscribe(f"{prefix}.firehose")  # never read
            for index in range(PENDING_MSGS + 2000):
                await publisher.transport.publish(f"{prefix}.firehose", b"%d" % index)
            # The flood is out; the slow side's connection still serves new traffic.
            after = await bus.subscribe(f"{prefix}.after")
            await publisher.publish(f"{prefix}.after", "still flowing")
            got = await after.get(10)
            assert got is not None
            assert got.payload == "still flowing"
            # Its client dropped the overflow (counted) instead of pushing back.
            assert slow_transport.slow_drops > 0
            await slow.close()

    _run(test)


def test_ack_removes_the_message(nats_url: str, prefix: str) -> None:
    queue = f"{prefix}.jobs"

    async def test() -> None:
        async with _bus(nats_url, [queue]) as bus:
            sent = await bus.enqueue(queue, {"n": 1})
            delivery = await bus.take(queue, visibility_ms=300, timeout_s=5)
            assert delivery is not None
            assert (delivery.envelope.id, delivery.attempt) == (sent.id, 1)
            await delivery.ack()
            assert await bus.take(queue, visibility_ms=300, timeout_s=0.8) is None

    _run(test)


def test_an_unacked_message_comes_back_after_the_visibility_timeout(
    nats_url: str, prefix: str
) -> None:
    queue = f"{prefix}.jobs"

    async def test() -> None:
        async with _bus(nats_url, [queue]) as bus:
            sent = await bus.enqueue(queue, "work")
            first = await bus.take(queue, visibility_ms=400, timeout_s=5)
            assert first is not None
            assert first.attempt == 1
            loop = asyncio.get_running_loop()
            taken = loop.time()
            again = await bus.take(queue, visibility_ms=400, timeout_s=5)
            assert again is not None
            assert loop.time() - taken >= 0.3
            assert (again.envelope.id, again.attempt) == (sent.id, 2)
            await again.ack()

    _run(test)


def test_nack_redelivers_at_once(nats_url: str, prefix: str) -> None:
    queue = f"{prefix}.jobs"

    async def test() -> None:
        async with _bus(nats_url, [queue]) as bus:
            sent = await bus.enqueue(queue, "work")
            first = await bus.take(queue, visibility_ms=30_000, timeout_s=5)
            assert first is not None
            await first.nack()
            again = await bus.take(queue, visibility_ms=30_000, timeout_s=2)
            assert again is not None
            assert (again.envelope.id, again.attempt) == (sent.id, 2)
            await again.ack()

    _run(test)


def test_dead_letter_after_max_attempts(nats_url: str, prefix: str) -> None:
    queue = f"{prefix}.jobs"

    async def test() -> None:
        async with _bus(nats_url, [queue], max_attempts=2) as bus:
            sent = await bus.enqueue(queue, "poison")
            for attempt in (1, 2):
                delivery = await bus.take(queue, visibility_ms=30_000, timeout_s=5)
                assert delivery is not None
                assert delivery.attempt == attempt
                await delivery.nack()
            assert await bus.take(queue, visibility_ms=30_000, timeout_s=1) is None
            dead = await bus.take(dead_letters(queue), timeout_s=5)
            assert dead is not None
            assert (dead.envelope.id, dead.attempt) == (sent.id, 1)
            await dead.ack()

    _run(test)


def test_check_bus_passes_on_nats(nats_url: str) -> None:
    check_bus(nats_url)


def test_publish_many_is_one_nats_message_per_batch(nats_url: str, prefix: str) -> None:
    async def test() -> None:
        async with _bus(nats_url, []) as bus:
            channel = f"{prefix}.batch"
            raw = await bus.transport.subscribe(channel)
            subscription = await bus.subscribe(channel)
            sent = await bus.publish_many(channel, range(20))
            first = await raw.next(5)
            assert first is not None and first[1].startswith(b"[{")
            assert await raw.next(0.2) is None  # the twenty travelled as one message
            got = [await subscription.get(5) for _ in range(20)]
            assert [g.id if g else None for g in got] == [s.id for s in sent]

    _run(test)


def test_requests_share_one_reply_subscription(nats_url: str, prefix: str) -> None:
    async def test() -> None:
        async with _bus(nats_url, []) as bus:
            transport = bus.transport
            assert isinstance(transport, NatsTransport)
            requests = await bus.subscribe(f"{prefix}.svc.echo")

            async def serve() -> None:
                async for request in requests:
                    await bus.reply(request, request.payload)

            server = asyncio.create_task(serve())
            counts = []
            for n in range(5):
                answer = await bus.request(f"{prefix}.svc.echo", n, timeout_ms=5000)
                assert answer.payload == n
                counts.append(len(transport._subscriptions))
            server.cancel()
            assert counts == [2] * 5  # the service's and the bus's one reply subscription

    _run(test)
