"""The Redis backend (``RedisTransport``) against the real Redis: pub/sub, Streams, cleanup."""

from __future__ import annotations

import asyncio
import fnmatch
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import redis

from devspark.bus import Bus, connect, dead_letters, matches
from devspark.bus.redis import GROUP, RedisTransport, stream_key, to_redis_glob
from devspark.core.errors import FailedPreconditionError
from devspark.testing.check_bus import check_bus

pytestmark = pytest.mark.integration

T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run an async scenario on a fresh event loop, with a bound so a hang fails."""

    async def bounded() -> T:
        async with asyncio.timeout(30):
            return await scenario()

    return asyncio.run(bounded())


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """Channel and queue names of this test's own; its streams are deleted afterwards."""
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=stream_key(name) + "*"):
            client.delete(key)
    finally:
        client.close()


def _clients_named(url: str, name: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return sum(1 for c in client.client_list() if c.get("name") == name)
    finally:
        client.close()


async def _until_clients(url: str, name: str, count: int) -> int:
    """Wait (5 s at most) until the server counts ``count`` connections named ``name``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (now := _clients_named(url, name)) != count and loop.time() < deadline:
        await asyncio.sleep(0.01)  # the server sees a closed socket a moment later
    return now


@pytest.mark.parametrize(
    ("pattern", "glob"),
    [
        ("team.*", "team.*"),
        ("team.>", "team.*"),
        ("team.*.moves", "team.*.moves"),
        (">", "*"),
        ("team.red-1_x", None),
    ],
)
def test_a_pattern_becomes_a_glob_at_least_as_broad(pattern: str, glob: str | None) -> None:
    assert to_redis_glob(pattern) == glob
    channels = ["team", "team.red", "team.red.moves", "team.red-1_x", "team.a.b.moves", "x.y"]
    for channel in channels:
        if matches(pattern, channel):
            assert fnmatch.fnmatchcase(channel, glob or pattern), (pattern, channel)


def test_star_is_one_token_and_gt_the_rest(redis_url: str, prefix: str) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with await connect(redis_url) as bus:
            star = await bus.subscribe(f"{prefix}.team.*")
            rest = await bus.subscribe(f"{prefix}.team.>")
            for channel in ("team.a.b", "team", "team.a"):
                await bus.publish(f"{prefix}.{channel}", channel)
            star_got = await star.get(5)
            rest_got = [await rest.get(5), await rest.get(5)]
            return [star_got.channel if star_got else "-"], [
                e.channel if e else "-" for e in rest_got
            ]

    star_channels, rest_channels = run(scenario)
    assert star_channels == [f"{prefix}.team.a"]  # team.a.b (two tokens) and team (none) skipped
    assert rest_channels == [f"{prefix}.team.a.b", f"{prefix}.team.a"]  # not team itself


def test_request_and_response_through_the_bus(redis_url: str, prefix: str) -> None:
    async def scenario() -> Any:
        async with await connect(redis_url) as server, await connect(redis_url) as client:
            requests = await server.subscribe(f"{prefix}.svc.add")

            async def serve() -> None:
                request = await requests.get(5)
                assert request is not None
                await server.reply(request, sum(request.payload))

            serving = asyncio.create_task(serve())
            answer = await client.request(f"{prefix}.svc.add", [2, 3], timeout_ms=5000)
            await serving
            await requests.close()
            return answer

    answer = run(scenario)
    assert (answer.kind, answer.payload) == ("response", 5)


def test_a_message_not_acked_in_time_comes_back_as_attempt_2(redis_url: str, prefix: str) -> None:
    async def scenario() -> tuple[int, int, Any, Any]:
        async with await connect(redis_url) as bus:
            sent = await bus.enqueue(f"{prefix}.jobs", "work")
            first = await bus.take(f"{prefix}.jobs", visibility_ms=200, timeout_s=5)
            again = await bus.take(f"{prefix}.jobs", visibility_ms=200, timeout_s=5)
            assert first is not None and again is not None
            await again.ack()
            return first.attempt, again.attempt, again.envelope.id, sent.id

    first_attempt, second_attempt, got_id, sent_id = run(scenario)
    assert (first_attempt, second_attempt) == (1, 2)
    assert got_id == sent_id


def test_nack_redelivers_at_once_and_a_stale_ack_is_ignored(redis_url: str, prefix: str) -> None:
    async def scenario() -> tuple[int, int, int | None]:
        async with await connect(redis_url) as bus:
            queue = f"{prefix}.jobs"
            await bus.enqueue(queue, "retry me")
            first = await bus.take(queue, visibility_ms=60_000, timeout_s=5)
            assert first is not None
            await first.nack()
            second = await bus.take(queue, visibility_ms=60_000, timeout_s=0.5)
            assert second is not None  # at once: well before the 60 s visibility
            await first.ack()  # the first delivery is over: this ack must not remove it
            await second.nack()
            third = await bus.take(queue, visibility_ms=60_000, timeout_s=0.5)
            assert third is not None
            await third.ack()
            return first.attempt, second.attempt, third.attempt

    assert run(scenario) == (1, 2, 3)


def test_a_message_goes_to_the_dead_letters_after_max_attempts(redis_url: str, prefix: str) -> None:
    async def scenario() -> tuple[list[int], Any, Any, Any]:
        transport = await RedisTransport.open(redis_url)
        async with Bus(transport, redis_url, max_attempts=2) as bus:
            queue = f"{prefix}.jobs"
            sent = await bus.enqueue(queue, "poison")
            attempts = []
            for _ in range(2):
                delivery = await bus.take(queue, visibility_ms=60_000, timeout_s=5)
                assert delivery is not None
                attempts.append(delivery.attempt)
                await delivery.nack()
            left = await bus.take(queue, visibility_ms=60_000, timeout_s=0.3)
            dead = await bus.take(dead_letters(queue), visibility_ms=60_000, timeout_s=5)
            assert dead is not None
            await dead.ack()
            return attempts, left, dead.envelope.id, sent.id

    attempts, left, dead_id, sent_id = run(scenario)
    assert attempts == [1, 2]
    assert left is None
    assert dead_id == sent_id


def test_ack_removes_the_entry_from_the_stream(redis_url: str, prefix: str) -> None:
    async def scenario() -> Any:
        async with await connect(redis_url) as bus:
            queue = f"{prefix}.jobs"
            await bus.enqueue(queue, "done soon", priority=9)
            delivery = await bus.take(queue, visibility_ms=200, timeout_s=5)
            assert delivery is not None
            await delivery.ack()
            return await bus.take(queue, visibility_ms=200, timeout_s=0.5)  # past visibility

    assert run(scenario) is None
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.xlen(stream_key(f"{prefix}.jobs")) == 0
        assert client.xpending(stream_key(f"{prefix}.jobs"), GROUP)["pending"] == 0
    finally:
        client.close()


def test_close_releases_every_connection_and_unsubscribes(redis_url: str, prefix: str) -> None:
    channel = f"{prefix}.watched"

    async def scenario() -> tuple[int, int, int, int, int]:
        transport = await RedisTransport.open(redis_url)
        name = transport.client_name
        kept = await transport.subscribe(channel)
        dropped = await transport.subscribe(f"{prefix}.*")
        with_two = _clients_named(redis_url, name)  # one connection per subscription
        await dropped.close()
        with_one = await _until_clients(redis_url, name, with_two - 1)
        numsub = redis.Redis.from_url(redis_url)
        try:
            subscribed = numsub.pubsub_numsub(channel)[0][1]
            await transport.close()
            left = await _until_clients(redis_url, name, 0)
            after = numsub.pubsub_numsub(channel)[0][1]
        finally:
            numsub.close()
        assert await kept.next(0.1) is None  # a closed subscription reads nothing
        return with_two, with_one, subscribed, after, left

    with_two, with_one, subscribed, after, left = run(scenario)
    assert with_two >= 2
    assert with_one == with_two - 1  # closing one subscription released its connection
    assert (subscribed, after) == (1, 0)  # closing the transport unsubscribed the other
    assert left == 0


def test_close_leaves_the_group_only_when_holding_nothing(redis_url: str, prefix: str) -> None:
    queue = f"{prefix}.jobs"

    async def scenario() -> tuple[list[str], Any]:
        idle = await RedisTransport.open(redis_url)
        assert await idle.take(queue, visibility_ms=100, timeout_s=0) is None
        await idle.close()
        holder = await RedisTransport.open(redis_url)
        await holder.enqueue(queue, b"held", 5)
        held = await holder.take(queue, visibility_ms=100, timeout_s=5)
        assert held is not None
        await holder.close()  # still holds the entry: stays, so the entry is not lost
        client = redis.Redis.from_url(redis_url)
        try:
            consumers = [
                c["name"].decode() for c in client.xinfo_consumers(stream_key(queue), GROUP)
            ]
        finally:
            client.close()
        assert idle.consumer not in consumers
        rescuer = await RedisTransport.open(redis_url)
        try:
            rescued = await rescuer.take(queue, visibility_ms=100, timeout_s=5)
            assert rescued is not None
            await rescued.ack()
            return consumers, (rescued.data, rescued.attempt)
        finally:
            await rescuer.close()

    consumers, rescued = run(scenario)
    assert consumers == [consumers[0]] and consumers[0] != ""
    assert rescued == (b"held", 2)


def test_publishing_never_waits_for_a_subscriber_that_does_not_read(
    redis_url: str, prefix: str
) -> None:
    async def scenario() -> tuple[str, bytes] | None:
        transport = await RedisTransport.open(redis_url)
        try:
            idle = await transport.subscribe(f"{prefix}.flood")
            async with asyncio.timeout(10):
                for index in range(2000):
                    await transport.publish(f"{prefix}.flood", b"x" * 1024 + str(index).encode())
            return await idle.next(5)
        finally:
            await transport.close()

    received = run(scenario)
    assert received is not None and received[1].endswith(b"x0")


def test_an_unreachable_server_is_a_failed_precondition_without_the_password() -> None:
    url = "redis://:s3cret-pw@127.0.0.1:1/0"
    with pytest.raises(FailedPreconditionError, match="cannot reach Redis") as caught:
        run(lambda: connect(url))
    assert "s3cret-pw" not in str(caught.value)
    assert "redis://:***@127.0.0.1:1/0" in str(caught.value)


def test_the_conformance_kit_passes_on_redis(redis_url: str) -> None:
    check_bus(redis_url)


def test_requests_use_the_one_reply_connection_of_the_bus(redis_url: str, prefix: str) -> None:
    async def scenario() -> tuple[list[int], list[object]]:
        async with await connect(redis_url) as bus:
            transport = bus.transport
            assert isinstance(transport, RedisTransport)
            requests = await bus.subscribe(f"{prefix}.svc.echo")

            async def serve() -> None:
                async for request in requests:
                    await bus.reply(request, request.payload)

            server = asyncio.create_task(serve())
            counts, answers = [], []
            for n in range(5):
                answer = await bus.request(f"{prefix}.svc.echo", n, timeout_ms=5000)
                answers.append(answer.payload)
                counts.append(_clients_named(redis_url, transport.client_name))
            server.cancel()
            await requests.close()
            return counts, answers

    counts, answers = run(scenario)
    assert answers == [0, 1, 2, 3, 4]
    assert len(set(counts)) == 1  # no connection per request


def test_publish_many_is_one_publish_per_batch_read_back_in_order(
    redis_url: str, prefix: str
) -> None:
    channel = f"{prefix}.batch"

    async def scenario() -> tuple[list[bytes], list[str | None], list[str]]:
        async with await connect(redis_url) as bus:
            raw = await bus.transport.subscribe(channel)
            subscription = await bus.subscribe(channel)
            sent = await bus.publish_many(channel, range(20))
            wires = [await raw.next(5), await raw.next(0.2)]
            got = [await subscription.get(5) for _ in range(20)]
            return (
                [w[1] for w in wires if w],
                [g.id if g else None for g in got],
                [s.id for s in sent],
            )

    wires, got, sent = run(scenario)
    assert len(wires) == 1 and wires[0].startswith(b"[{")  # one PUBLISH carried all twenty
    assert got == sent
