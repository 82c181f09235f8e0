"""The live hub: fan-out, slow subscribers, topic caps, and a hub bound to no loop."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest

from devspark.core.errors import ResourceExhaustedError
from devspark.services.live import LiveHub, Subscription, parse_topic


def drain(subscription: Subscription) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    return events


def test_a_subscriber_that_never_reads_does_not_slow_the_publisher() -> None:
    async def scenario() -> tuple[float, list[dict[str, Any]], list[dict[str, Any]]]:
        hub = LiveHub(queue_size=8)
        hub.bind(asyncio.get_running_loop())
        stuck = hub.subscribe("tournament:t")
        reader = hub.subscribe("tournament:t")
        received: list[dict[str, Any]] = []

        async def read() -> None:
            accounted = 0  # events seen plus events reported dropped
            while accounted < 10_000:
                event = await reader.get()
                received.append(event)
                accounted += event["count"] if event["type"] == "dropped" else 1

        reading = asyncio.create_task(read())

        def publish_all() -> float:
            start = time.perf_counter()
            for n in range(10_000):
                hub.publish("tournament:t", {"type": "step", "n": n})
            return time.perf_counter() - start

        elapsed = await asyncio.to_thread(publish_all)
        await hub.flush()
        await asyncio.wait_for(reading, 10)
        return elapsed, drain(stuck), received

    elapsed, stuck_events, received = asyncio.run(scenario())
    # A publisher that waited for the stuck queue would never finish; the bound only
    # catches a gross slowdown (about 0.1 s on an idle 2-core machine).
    assert elapsed < 5
    steps = [e for e in stuck_events if e["type"] == "step"]
    assert [e["n"] for e in steps] == list(range(8))
    assert stuck_events[8:] == [{"type": "dropped", "count": 10_000 - 8}]
    # The other subscriber read as events came: it saw them in order (and, reading
    # concurrently, normally all of them; any it missed are reported, never lost silently).
    seen = [e["n"] for e in received if e["type"] == "step"]
    assert seen == sorted(seen)
    notices = sum(e["count"] for e in received if e["type"] == "dropped")
    assert len(seen) + notices == 10_000


def test_subscribers_are_independent_and_topics_filter() -> None:
    async def scenario() -> tuple[list[dict[str, Any]], ...]:
        hub = LiveHub(queue_size=4)
        hub.bind(asyncio.get_running_loop())
        small = hub.subscribe("tournament:a")
        both = hub.subscribe("tournament:a", "match:m")
        other = hub.subscribe("tournament:b")
        gone = hub.subscribe("tournament:a")
        hub.unsubscribe(gone)
        publisher = threading.Thread(
            target=lambda: [hub.publish("tournament:a", {"type": "x", "n": n}) for n in range(3)]
        )
        publisher.start()
        publisher.join()
        hub.publish("match:m", {"type": "y"})
        await hub.flush()
        first = drain(small)
        for n in range(3, 9):  # overflows small again: 4 kept, 2 dropped
            hub.publish("tournament:a", {"type": "x", "n": n})
        await hub.flush()
        second = [await small.get() for _ in range(5)]
        return first, second, drain(small), drain(both), drain(other), drain(gone)

    first, second, rest, both, other, gone = asyncio.run(scenario())
    assert [e["n"] for e in first] == [0, 1, 2]
    assert first[0] == {"topic": "tournament:a", "type": "x", "n": 0}
    assert [e["n"] for e in second[:4]] == [3, 4, 5, 6]
    assert second[4] == {"type": "dropped", "count": 2}
    assert rest == []
    # ``both`` was full (0, 1, 2, y) when 3..8 came: it lost those six, and says so.
    assert [e.get("n", e["type"]) for e in both] == [0, 1, 2, "y", "dropped"]
    assert both[-1]["count"] == 6
    assert other == [] and gone == []


def test_publish_before_bind_or_after_close_is_a_no_op() -> None:
    hub = LiveHub()
    hub.publish("tournament:x", {"type": "x"})  # not bound: discarded
    loop = asyncio.new_event_loop()
    hub.bind(loop)
    loop.close()
    hub.publish("tournament:x", {"type": "x"})  # closed: discarded
    with pytest.raises(ValueError, match="queue_size"):
        LiveHub(queue_size=0)


def test_parse_topic() -> None:
    ident = uuid.uuid4()
    assert parse_topic(f"tournament:{str(ident).upper()}") == f"tournament:{ident}"
    assert parse_topic(f"match:{ident.hex}") == f"match:{ident}"
    for bad in ("tournament", "agent:x", f"tournament:{ident}x", ""):
        with pytest.raises(ValueError, match=r"topic|badly formed"):
            parse_topic(bad)


def test_hub_caps_the_topics_of_one_subscription() -> None:
    async def scenario() -> tuple[set[str], set[str]]:
        hub = LiveHub(max_topics=2)
        hub.bind(asyncio.get_running_loop())
        one, other = hub.subscribe(), hub.subscribe()
        hub.add_topic(one, "match:a")
        hub.add_topic(one, "match:b")
        hub.add_topic(one, "match:b")  # already watched: no new slot used
        with pytest.raises(ResourceExhaustedError, match="at most 2 topics"):
            hub.add_topic(one, "match:c")
        hub.add_topic(other, "match:c")  # the cap is per subscription
        return one.topics, other.topics

    assert asyncio.run(scenario()) == ({"match:a", "match:b"}, {"match:c"})
    with pytest.raises(ValueError, match="max_topics"):
        LiveHub(max_topics=0)


def test_an_unbound_hub_delivers_on_the_publishing_thread_only_when_subscribed() -> None:
    hub = LiveHub(queue_size=4)  # a worker's hub: no event loop, ever
    hub.publish("match:m", {"type": "step", "n": 0})  # nobody subscribes: skipped
    subscription = hub.subscribe("match:m")
    assert hub.watching("match:m") and not hub.watching("match:other")
    assert hub.watch_counts() == {"match:m": 1}
    hub.publish("match:m", {"type": "step", "n": 1})
    hub.deliver_remote("match:m", {"type": "step", "n": 2})
    assert drain(subscription) == [
        {"topic": "match:m", "type": "step", "n": 1},
        {"topic": "match:m", "type": "step", "n": 2},
    ]
    hub.unsubscribe(subscription)
    hub.unsubscribe(subscription)  # twice is harmless
    assert not hub.watching("match:m") and hub.watch_counts() == {}


def test_watch_counts_count_subscriptions_per_topic() -> None:
    hub = LiveHub()
    one, two = hub.subscribe("match:a", "match:b"), hub.subscribe("match:a")
    assert hub.watch_counts() == {"match:a": 2, "match:b": 1}
    hub.remove_topic(one, "match:a")
    assert hub.watch_counts() == {"match:a": 1, "match:b": 1}
    hub.unsubscribe(two)
    assert hub.watch_counts() == {"match:b": 1}


def test_remote_events_reach_a_bound_hub_from_another_thread() -> None:
    async def scenario() -> list[dict[str, Any]]:
        hub = LiveHub()
        hub.bind(asyncio.get_running_loop())
        subscription = hub.subscribe("match:m")
        listener = threading.Thread(  # as the bridge's listener thread would
            target=lambda: [hub.deliver_remote("match:m", {"n": n}) for n in range(3)]
        )
        listener.start()
        listener.join()
        return [await asyncio.wait_for(subscription.get(), 5) for _ in range(3)]

    assert [event["n"] for event in asyncio.run(scenario())] == [0, 1, 2]
