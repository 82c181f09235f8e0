"""Live events between processes over the real Redis (``RedisBridge``): task and thread listeners."""

from __future__ import annotations

import asyncio
import json
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from devspark.core.errors import FailedPreconditionError
from devspark.services.live import LiveHub, match_topic
from devspark.services.live_bridge import RedisBridge

pytestmark = pytest.mark.integration


@pytest.fixture
def channel(redis_url: str) -> str:
    """A channel of this test's own, so parallel tests never hear each other."""
    return f"devspark:test:{uuid.uuid4().hex}"


def test_a_bridge_ignores_its_own_messages_and_garbage(redis_url: str) -> None:
    bridge = RedisBridge(redis_url)
    got: list[tuple[str, dict[str, Any]]] = []
    own = json.dumps({"origin": bridge.origin, "topic": "match:x", "event": {"type": "step"}})
    bridge.receive(own, lambda t, e: got.append((t, e)))
    bridge.receive(b"not json", lambda t, e: got.append((t, e)))
    other = json.dumps({"origin": "elsewhere", "topic": "match:x", "event": {"type": "step"}})
    bridge.receive(other, lambda t, e: got.append((t, e)))
    assert got == [("match:x", {"type": "step"})]
    bridge.receive(json.dumps({"origin": "elsewhere", "watch": "match:x"}), got.append)  # type: ignore[arg-type]
    assert bridge.watched_elsewhere("match:x")
    bridge.receive(json.dumps({"origin": "elsewhere", "unwatch": "match:x"}), got.append)  # type: ignore[arg-type]
    assert not bridge.watched_elsewhere("match:x")


async def _subscribers(url: str, channel: str, count: int, timeout: float = 10.0) -> None:
    """Wait until Redis counts ``count`` subscribers on ``channel`` (PUBSUB NUMSUB)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    deadline = time.monotonic() + timeout
    try:
        while (numsub := client.pubsub_numsub(channel)[0][1]) < count:
            assert time.monotonic() < deadline, f"{numsub} of {count} subscribers on {channel}"
            await asyncio.sleep(0.01)
    finally:
        client.close()


def test_events_and_watches_travel_between_two_hubs(redis_url: str, channel: str) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], bool, bool]:
        loop = asyncio.get_running_loop()
        player_bridge = RedisBridge(redis_url, channel)  # the that plays
        viewer_bridge = RedisBridge(redis_url, channel)  # the a client is on
        player, viewer = LiveHub(bridge=player_bridge), LiveHub(bridge=viewer_bridge)
        for hub, bridge in ((player, player_bridge), (viewer, viewer_bridge)):
            hub.bind(loop)
            bridge.start(hub.deliver_remote)
        await _subscribers(redis_url, channel, 2)  # both listening
        topic = match_topic(uuid.uuid4())
        before = player.watching(topic)
        subscription = viewer.subscribe()
        viewer.add_topic(subscription, topic)  # a client of the viewer server watches
        for _ in range(50):
            if player.watching(topic):
                break
            await asyncio.sleep(0.05)
        watched = player.watching(topic)
        player.publish(topic, {"type": "step", "step": 0})  # from the playing server
        player.publish(topic, {"type": "step", "step": 1})
        received = [await asyncio.wait_for(subscription.get(), 5) for _ in range(2)]
        viewer.unsubscribe(subscription)
        await player_bridge.stop()
        await viewer_bridge.stop()
        return received, before, watched

    received, before, watched = asyncio.run(scenario())
    assert not before and watched
    assert [event["step"] for event in received] == [0, 1]
    assert all(event["type"] == "step" for event in received)


def test_snapshots_replace_a_senders_watches_and_unwatches_never_go_below_zero(
    redis_url: str,
) -> None:
    bridge = RedisBridge(redis_url)
    ignore: Callable[[str, dict[str, Any]], None] = lambda t, e: None  # noqa: E731

    def note(origin: str, **fields: Any) -> None:
        bridge.receive(json.dumps({"origin": origin, **fields}), ignore)

    note("a", watch="match:x")
    note("b", watching={"match:x": 2, "match:y": 1, "match:z": 0, "match:bad": "1"})
    note("a", unwatch="match:x")
    note("a", unwatch="match:x")  # one too many: must not take b's watch away
    assert bridge.watched_elsewhere("match:x") and bridge.watched_elsewhere("match:y")
    assert not bridge.watched_elsewhere("match:z") and not bridge.watched_elsewhere("match:bad")
    note("b", watching={"match:y": 1})  # b's newest snapshot wins
    assert not bridge.watched_elsewhere("match:x") and bridge.watched_elsewhere("match:y")
    note("b", watching={})
    assert not bridge.watched_elsewhere("match:y")
    bridge.stop_thread()


class Inbox:
    """Collects what a listener delivers, for a test thread to wait on."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()

    def __call__(self, topic: str, event: dict[str, Any]) -> None:
        self.events.put((topic, event))

    def next(self, timeout: float = 5.0) -> tuple[str, dict[str, Any]]:
        return self.events.get(timeout=timeout)


def _eventually(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds (a note from another process has no reply to await)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def _numsub(url: str, channel: str) -> int:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return int(client.pubsub_numsub(channel)[0][1])
    finally:
        client.close()


@pytest.fixture
def bridges(redis_url: str, channel: str) -> Iterator[Callable[[], RedisBridge]]:
    """Make bridges on the test's channel; their thread listeners stop at the end."""
    made: list[RedisBridge] = []

    def make() -> RedisBridge:
        made.append(RedisBridge(redis_url, channel))
        return made[-1]

    yield make
    for bridge in made:
        bridge.stop_thread()


def test_the_thread_listener_delivers_events_and_tracks_watch_notes(
    redis_url: str, channel: str, bridges: Callable[[], RedisBridge]
) -> None:
    worker, server = bridges(), bridges()
    inbox = Inbox()
    worker.start_thread(inbox)
    assert worker.listening
    with pytest.raises(FailedPreconditionError, match="listens already"):
        worker.start_thread(inbox)
    _eventually(lambda: _numsub(redis_url, channel) == 1, "the worker's listener subscribed")
    topic = match_topic(uuid.uuid4())
    server.watch(topic)
    server.publish(topic, {"type": "marker", "n": 1})  # after the note, on the same connection
    assert inbox.next() == (topic, {"type": "marker", "n": 1})
    assert worker.watched_elsewhere(topic)  # the note came first
    server.unwatch(topic)
    server.publish(topic, {"type": "marker", "n": 2})
    assert inbox.next() == (topic, {"type": "marker", "n": 2})
    assert not worker.watched_elsewhere(topic)
    worker.stop_thread()
    assert not worker.listening
    assert _numsub(redis_url, channel) == 0  # its connection is closed


def test_a_late_bridge_learns_the_watches_that_exist_through_the_hello_round(
    redis_url: str, channel: str, bridges: Callable[[], RedisBridge]
) -> None:
    viewer_bridge = bridges()  # a server whose client already watches
    viewer = LiveHub(bridge=viewer_bridge)
    topic = match_topic(uuid.uuid4())
    subscription = viewer.subscribe(topic)  # its watch note reaches nobody yet
    viewer_bridge.start_thread(viewer.deliver_remote)
    _eventually(lambda: _numsub(redis_url, channel) == 1, "the viewer listens")
    worker_bridge = bridges()  # the worker starts later
    worker = LiveHub(bridge=worker_bridge)
    assert not worker.watching(topic)
    worker_bridge.start_thread(worker.deliver_remote)  # says hello on subscribing
    _eventually(lambda: worker.watching(topic), "the viewer answered the worker's hello")
    viewer.unsubscribe(subscription)  # later notes count against the snapshot
    _eventually(lambda: not worker.watching(topic), "the worker heard the unwatch")


def test_a_bridge_reconnects_after_losing_redis_and_says_hello_again(
    redis_url: str, channel: str, bridges: Callable[[], RedisBridge]
) -> None:
    worker, viewer_bridge = bridges(), bridges()
    viewer = LiveHub(bridge=viewer_bridge)
    inbox = Inbox()
    worker.start_thread(inbox)
    viewer_bridge.start_thread(viewer.deliver_remote)
    _eventually(lambda: _numsub(redis_url, channel) == 2, "both listen")
    admin = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        (first,) = [c["id"] for c in admin.client_list() if c["name"] == worker.listener_name]
        admin.client_kill_filter(_id=first)  # as a Redis restart would, for this one client
        topic = match_topic(uuid.uuid4())
        viewer.subscribe(topic)  # this watch note reaches nobody...
        assert _numsub(redis_url, channel) == 1, (
            "the worker came back before the note: inconclusive"
        )
        _eventually(  # ...the worker learns it from the answer to its new hello
            lambda: worker.watched_elsewhere(topic), "the worker reconnected and said hello"
        )
        assert any(c["name"] == worker.listener_name for c in admin.client_list())
    finally:
        admin.close()
    viewer.publish(topic, {"type": "step", "step": 3})
    assert inbox.next() == (topic, {"type": "step", "step": 3})


def test_an_unbound_hub_publishes_to_the_bridge_without_error(
    redis_url: str, channel: str, bridges: Callable[[], RedisBridge]
) -> None:
    server_bridge = bridges()
    inbox = Inbox()
    server_bridge.start_thread(inbox)
    _eventually(lambda: _numsub(redis_url, channel) == 1, "the server listens")
    worker = LiveHub(bridge=bridges())  # never bound, nobody subscribed here
    topic = match_topic(uuid.uuid4())
    worker.publish(topic, {"type": "match_started"})
    assert inbox.next() == (topic, {"type": "match_started"})
    unreachable = LiveHub(bridge=RedisBridge("redis://127.0.0.1:1/0"))
    unreachable.publish(topic, {"type": "match_started"})  # Redis down: logged, not raised
    assert not unreachable.watching(topic)
