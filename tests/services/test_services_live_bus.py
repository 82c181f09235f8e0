"""Live events between processes riding the real bus (Redis and NATS): ``BusBridge``."""

from __future__ import annotations

import asyncio
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devspark.core.errors import FailedPreconditionError
from devspark.services.live import LiveHub, match_topic
from devspark.services.live_bus import BusBridge

pytestmark = pytest.mark.integration

BUSES = [
    pytest.param("redis://127.0.0.1:6379/0", id="redis"),
    pytest.param("nats://127.0.0.1:4222", id="nats"),
]


@pytest.fixture(params=BUSES)
def bus_url(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def channel() -> str:
    """A channel of this test's own, so parallel tests never hear each other."""
    return f"devspark.test.live-{uuid.uuid4().hex}"


class Inbox:
    """Collects what a listener delivers, for the test thread to wait on."""

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


@pytest.fixture
def bridges(bus_url: str, channel: str) -> Iterator[Callable[[], BusBridge]]:
    """Make bridges on the test's channel; they stop at the end."""
    made: list[BusBridge] = []

    def make() -> BusBridge:
        made.append(BusBridge(bus_url, channel))
        return made[-1]

    yield make
    for bridge in made:
        bridge.stop()


def test_a_bridge_ignores_its_own_messages() -> None:
    bridge = BusBridge("nats://127.0.0.1:4222")
    got: list[tuple[str, dict[str, Any]]] = []
    bridge.receive(
        {"origin": bridge.origin, "topic": "match:x", "event": {"type": "step"}},
        lambda t, e: got.append((t, e)),
    )
    bridge.receive(
        {"origin": "elsewhere", "topic": "match:x", "event": {"type": "step"}},
        lambda t, e: got.append((t, e)),
    )
    assert got == [("match:x", {"type": "step"})]
    bridge.receive({"origin": "elsewhere", "watch": "match:x"}, lambda t, e: None)
    assert bridge.watched_elsewhere("match:x")
    bridge.receive({"origin": "elsewhere", "unwatch": "match:x"}, lambda t, e: None)
    assert not bridge.watched_elsewhere("match:x")


def test_snapshots_replace_a_senders_watches_and_unwatches_never_go_below_zero() -> None:
    bridge = BusBridge("nats://127.0.0.1:4222")

    def note(origin: str, **fields: Any) -> None:
        bridge.receive({"origin": origin, **fields}, lambda t, e: None)

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


def test_events_and_watches_travel_between_two_hubs(
    bridges: Callable[[], BusBridge],
) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], bool, bool]:
        loop = asyncio.get_running_loop()
        player_bridge, viewer_bridge = bridges(), bridges()  # a worker, a server
        player, viewer = LiveHub(bridge=player_bridge), LiveHub(bridge=viewer_bridge)
        for hub, bridge in ((player, player_bridge), (viewer, viewer_bridge)):
            hub.bind(loop)
            await asyncio.to_thread(bridge.start, hub.deliver_remote)
        topic = match_topic(uuid.uuid4())
        before = player.watching(topic)
        subscription = viewer.subscribe()
        viewer.add_topic(subscription, topic)  # a client of the viewer server watches
        deadline = loop.time() + 15
        while not player.watching(topic) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        watched = player.watching(topic)
        player.publish(topic, {"type": "step", "step": 0})  # from the playing worker
        player.publish(topic, {"type": "step", "step": 1})
        received = [await asyncio.wait_for(subscription.get(), 5) for _ in range(2)]
        viewer.unsubscribe(subscription)
        return received, before, watched

    received, before, watched = asyncio.run(scenario())
    assert not before and watched
    assert [event["step"] for event in received] == [0, 1]


def test_the_listener_delivers_events_and_tracks_watch_notes(
    bridges: Callable[[], BusBridge],
) -> None:
    worker, server = bridges(), bridges()
    inbox = Inbox()
    worker.start(inbox)
    assert worker.listening
    with pytest.raises(FailedPreconditionError, match="listens already"):
        worker.start(inbox)
    topic = match_topic(uuid.uuid4())
    watching: dict[str, int] = {}  # the server's local watches, as its hub would list them
    server.set_watch_source(lambda: dict(watching))  # a hello's answer tells the same
    server.start(lambda t, e: None)
    watching[topic] = 1
    server.watch(topic)
    server.publish(topic, {"type": "marker", "n": 1})  # after the note, on one connection
    assert inbox.next() == (topic, {"type": "marker", "n": 1})
    assert worker.watched_elsewhere(topic)  # the note came first
    del watching[topic]
    server.unwatch(topic)
    server.publish(topic, {"type": "marker", "n": 2})
    assert inbox.next() == (topic, {"type": "marker", "n": 2})
    assert not worker.watched_elsewhere(topic)
    worker.stop()
    assert not worker.listening


def test_a_late_bridge_learns_the_watches_that_exist_through_the_hello_round(
    bridges: Callable[[], BusBridge],
) -> None:
    viewer_bridge = bridges()  # a server whose client already watches
    viewer = LiveHub(bridge=viewer_bridge)
    topic = match_topic(uuid.uuid4())
    subscription = viewer.subscribe(topic)  # its watch note reaches nobody yet
    viewer_bridge.start(viewer.deliver_remote)
    worker_bridge = bridges()  # the worker starts later
    worker = LiveHub(bridge=worker_bridge)
    assert not worker.watching(topic)
    worker_bridge.start(worker.deliver_remote)  # says hello on subscribing
    _eventually(lambda: worker.watching(topic), "the viewer answered the worker's hello")
    viewer.unsubscribe(subscription)  # later notes count against the snapshot
    _eventually(lambda: not worker.watching(topic), "the worker heard the unwatch")


def test_an_unbound_hub_publishes_to_the_bridge_and_an_unreachable_bus_raises_nothing(
    bridges: Callable[[], BusBridge],
) -> None:
    server_bridge = bridges()
    inbox = Inbox()
    server_bridge.start(inbox)
    worker_bridge = bridges()
    worker_bridge.start(lambda t, e: None)
    worker = LiveHub(bridge=worker_bridge)  # never bound, nobody subscribed here
    topic = match_topic(uuid.uuid4())
    worker.publish(topic, {"type": "match_started"})
    assert inbox.next() == (topic, {"type": "match_started"})
    down = BusBridge("nats://127.0.0.1:1")
    down.start(lambda t, e: None, timeout_s=0.5)  # keeps trying in its thread
    unreachable = LiveHub(bridge=down)
    unreachable.publish(topic, {"type": "match_started"})  # bus down: logged, not raised
    assert not unreachable.watching(topic)
    down.stop()
