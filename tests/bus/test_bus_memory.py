"""The memory backend's promises, the subscriptions' mailbox, and the one reply subscription."""

from __future__ import annotations

import asyncio

import pytest

from devspark.bus import connect
from devspark.bus import memory as memory_backend
from devspark.bus.core import Mailbox
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


def test_a_mailbox_keeps_the_newest_or_the_oldest_when_full_and_counts_the_drops() -> None:
    newest: Mailbox[int] = Mailbox(3, keep="newest")
    oldest: Mailbox[int] = Mailbox(3, keep="oldest")
    for n in range(5):
        newest.offer(n)
        oldest.offer(n)
    assert (list(newest.items), newest.dropped) == ([2, 3, 4], 2)
    assert (list(oldest.items), oldest.dropped) == ([0, 1, 2], 2)


def test_a_mailbox_reader_waits_times_out_and_is_woken_by_close() -> None:
    async def scenario() -> tuple[object, object, object, object, bool]:
        box: Mailbox[str] = Mailbox(10)
        nothing = await box.get(0.01)
        waiting = asyncio.create_task(box.get(5))
        await asyncio.sleep(0)  # let the reader wait
        box.offer("later")
        woken = await waiting
        two = [asyncio.create_task(box.get(None)) for _ in range(2)]
        await asyncio.sleep(0)
        box.offer("one")
        first = await two[0]
        box.close()
        closed = await two[1]
        return nothing, woken, first, closed, box.offer("after close")

    assert asyncio.run(scenario()) == (None, "later", "one", None, False)


def test_a_cancelled_mailbox_reader_leaves_the_next_one_working() -> None:
    async def scenario() -> object:
        box: Mailbox[str] = Mailbox(10)
        gone = asyncio.create_task(box.get(None))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        reader = asyncio.create_task(box.get(5))
        await asyncio.sleep(0)
        box.offer("kept")
        return await reader

    assert asyncio.run(scenario()) == "kept"


def test_requests_share_one_reply_subscription_per_bus() -> None:
    async def scenario() -> tuple[list[int], list[object]]:
        bus = await connect("memory://")
        transport = bus.transport
        assert isinstance(transport, MemoryTransport)
        requests = await bus.subscribe("svc.echo")

        async def serve() -> None:
            async for request in requests:
                await bus.reply(request, request.payload)

        server = asyncio.create_task(serve())
        counts, answers = [], []
        for n in range(5):
            answers.append((await bus.request("svc.echo", n, timeout_ms=1000)).payload)
            counts.append(len(transport.broker.subscriptions))
        await bus.close()
        counts.append(len(transport.broker.subscriptions))  # the reply subscription is gone
        server.cancel()
        return counts, answers

    counts, answers = asyncio.run(scenario())
    assert answers == [0, 1, 2, 3, 4]
    assert counts == [2, 2, 2, 2, 2, 1]  # the service's and the bus's one reply subscription


def test_a_bus_used_from_a_new_event_loop_still_gets_answers() -> None:
    bus = asyncio.run(connect("memory://loops"))

    async def ask(n: int) -> object:
        requests = await bus.subscribe("svc.loops")

        async def serve() -> None:
            request = await requests.get(1)
            assert request is not None
            await bus.reply(request, n)

        server = asyncio.create_task(serve())
        answer = await bus.request("svc.loops", n, timeout_ms=1000)
        await server
        await requests.close()
        return answer.payload

    assert [asyncio.run(ask(1)), asyncio.run(ask(2))] == [1, 2]


def test_a_batch_counts_as_one_message_of_a_slow_subscriber_backlog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory_backend, "DEFAULT_BACKLOG", 3)

    async def scenario() -> list[object]:
        async with await connect("memory://") as bus:
            slow = await bus.subscribe("ticks")
            await bus.publish_many("ticks", range(50))  # one wire message: kept whole
            got = []
            while (envelope := await slow.get(0.01)) is not None:
                got.append(envelope.payload)
            return got

    assert asyncio.run(scenario()) == list(range(50))


def test_a_reader_polling_an_idle_mailbox_leaves_no_waiter_behind() -> None:
    async def scenario() -> tuple[int, object]:
        box: Mailbox[str] = Mailbox(10)
        for _ in range(50):
            assert await box.get(0) is None
        left = len(box._waiters)
        box.offer("still delivered")
        return left, await box.get(1)

    assert asyncio.run(scenario()) == (0, "still delivered")


def test_a_failed_reply_subscription_fails_the_waiting_request_and_the_next_one_recovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> tuple[str, object]:
        bus = await connect("memory://")
        transport = bus.transport
        assert isinstance(transport, MemoryTransport)
        requests = await bus.subscribe("svc.flaky")
        asking = asyncio.create_task(bus.request("svc.flaky", 1, timeout_ms=5000))
        first = await requests.get(1)
        assert first is not None
        replies = next(s for s in transport.broker.subscriptions if s.pattern.startswith("_reply"))

        async def broken(_timeout_s: float | None) -> tuple[str, bytes] | None:
            raise ConnectionError("the backend went away")

        monkeypatch.setattr(replies, "next", broken)
        monkeypatch.setattr(replies, "poll", lambda: None)
        replies.offer("wake", b"")  # wakes the router; after this non-envelope it reads again
        try:
            await asking
            failed = "answered"
        except ConnectionError as exc:
            failed = str(exc)
        serving = asyncio.create_task(requests.get(1))
        again = asyncio.create_task(bus.request("svc.flaky", 2, timeout_ms=5000))
        second = await serving
        assert second is not None
        await bus.reply(second, "recovered")
        answer = (await again).payload
        await bus.close()
        return failed, answer

    assert asyncio.run(scenario()) == ("the backend went away", "recovered")


def test_a_subscription_used_as_a_context_manager_is_closed_on_exit() -> None:
    async def scenario() -> tuple[object, object]:
        bus = await connect("memory://")
        async with await bus.subscribe("news") as subscription:
            await bus.publish("news", "inside")
            got = await subscription.get(1)
        await bus.publish("news", "after")  # a closed subscription hears nothing more
        after = await subscription.get(0.05)
        await bus.close()
        return (got.payload if got else None), after

    assert asyncio.run(scenario()) == ("inside", None)
