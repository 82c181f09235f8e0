"""The memory backend's own promises: priority order, shared brokers, slow subscribers."""

from __future__ import annotations

import asyncio

import pytest

from devspark.bus import connect
from devspark.bus import memory as memory_backend
from devspark.bus.memory import MemoryTransport


def test_queue_takes_highest_priority_first_then_oldest() -> None:
    async def scenario() -> list[str]:
        async with await connect("memory://") as bus:
            for name, priority in [("low", 1), ("mid-a", 5), ("high", 10), ("mid-b", 5)]:
                await bus.enqueue("jobs", name, priority=priority)
            order = []
            while (delivery := await bus.take("jobs", timeout_s=0.05)) is not None:
                order.append(delivery.envelope.payload)
                await delivery.ack()
            return order

    assert asyncio.run(scenario()) == ["high", "mid-a", "mid-b", "low"]


def test_a_redelivered_message_keeps_its_priority() -> None:
    async def scenario() -> list[tuple[str, int]]:
        async with await connect("memory://") as bus:
            await bus.enqueue("jobs", "urgent", priority=9)
            first = await bus.take("jobs", timeout_s=0.05)
            assert first is not None
            await bus.enqueue("jobs", "routine", priority=2)
            await first.nack()
            taken = []
            while (delivery := await bus.take("jobs", timeout_s=0.05)) is not None:
                taken.append((delivery.envelope.payload, delivery.attempt))
                await delivery.ack()
            return taken

    assert asyncio.run(scenario()) == [("urgent", 2), ("routine", 1)]


def test_buses_with_the_same_name_share_a_broker_and_unnamed_ones_do_not() -> None:
    async def scenario() -> tuple[object, object, object]:
        one, two = await connect("memory://shared-test"), await connect("memory://shared-test")
        private_a, private_b = await connect("memory://"), await connect("memory://")
        heard = await two.subscribe("news")
        unheard = await private_b.subscribe("news")
        await one.publish("news", "across buses")
        await private_a.publish("news", "private")
        await one.enqueue("work", "shared job")
        delivery = await two.take("work", timeout_s=1)
        assert delivery is not None
        await delivery.ack()
        got = await heard.get(1)
        return (got.payload if got else None), delivery.envelope.payload, await unheard.get(0.05)

    assert asyncio.run(scenario()) == ("across buses", "shared job", None)


def test_a_slow_subscriber_loses_its_oldest_and_never_blocks_the_publisher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory_backend, "DEFAULT_BACKLOG", 10)

    async def scenario() -> tuple[list[object], list[object], int]:
        bus = await connect("memory://")
        transport = bus.transport
        assert isinstance(transport, MemoryTransport)
        slow = await bus.subscribe("ticks")  # never read until the end
        raw = await transport.subscribe("ticks")
        fast = await bus.subscribe("ticks")
        fast_got = []
        async with asyncio.timeout(5):  # a blocked publisher would hang here
            for n in range(25):
                await bus.publish("ticks", n)
                envelope = await fast.get(1)
                fast_got.append(envelope.payload if envelope else None)
        slow_got = []
        while (envelope := await slow.get(0.01)) is not None:
            slow_got.append(envelope.payload)
        return slow_got, fast_got, raw.dropped

    slow_got, fast_got, dropped = asyncio.run(scenario())
    assert slow_got == list(range(15, 25))  # the newest 10: the oldest 15 were dropped
    assert fast_got == list(range(25))  # the fast subscriber lost nothing
    assert dropped == 15


def test_take_waits_for_a_message_enqueued_later() -> None:
    async def scenario() -> object:
        async with await connect("memory://") as bus:
            waiting = asyncio.create_task(bus.take("later", timeout_s=5))
            await asyncio.sleep(0)  # let the consumer start waiting
            await bus.enqueue("later", "arrived")
            delivery = await waiting
            assert delivery is not None
            return delivery.envelope.payload

    assert asyncio.run(scenario()) == "arrived"
