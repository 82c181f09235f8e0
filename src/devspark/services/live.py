"""Live events: a publish/subscribe hub between the threads that play and their watchers.

A server's :class:`LiveHub` is bound to its event loop at startup. The threads that play
matches call :meth:`LiveHub.publish`, which never blocks: it hands the event to the loop
with ``call_soon_threadsafe`` and returns. On the loop the event is offered to every
:class:`Subscription` of its topic, each with its own bounded queue. A full queue drops
the event for that subscriber only and counts it; once the subscriber has room again it
receives a single ``{"type": "dropped", "count": n}`` notice before any newer event. A
slow client therefore never slows a match, nor another client.

A worker process has no event loop and no WebSocket clients: its hub is never bound.
There :meth:`LiveHub.publish` still hands each event to the bridge (if any), and local
delivery is skipped while nobody here subscribes (a subscriber of an unbound hub gets the
event on the publishing thread).

Topics are ``tournament:<uuid>``, ``match:<uuid>``, ``task:<uuid>`` and ``instance:<uuid>``
(see :func:`parse_topic`).

All subscription state is touched on the loop thread only (on a bound hub);
:meth:`LiveHub.publish`, :meth:`LiveHub.deliver_remote`, :meth:`LiveHub.watching` and
:meth:`LiveHub.watch_counts` are the methods meant for other threads.

With a :class:`~devspark.services.live_bus.BusBridge` (``DEVSPARK_BUS_URL`` or ``DEVSPARK_REDIS_URL``),
events and subscriptions also travel between processes, so a client of any server sees
the matches of the worker that plays the match, whichever process that is.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from devspark.core.errors import ResourceExhaustedError

if TYPE_CHECKING:
    from devspark.services.live_bus import BusBridge

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256
"""Events buffered per subscriber before newer ones are dropped."""

DEFAULT_MAX_TOPICS = 100
"""Topics one subscriber (one WebSocket connection) may watch at once."""

TOPIC_KINDS = ("tournament", "match", "task", "instance")
"""The kinds of topic a client may subscribe to."""


def tournament_topic(tournament_id: uuid.UUID | str) -> str:
    """The topic of a tournament's progress events."""
    return f"tournament:{tournament_id}"


def match_topic(match_id: uuid.UUID | str) -> str:
    """The topic of one match's events."""
    return f"match:{match_id}"


def parse_topic(text: str) -> str:
    """Normalise a topic ``kind:<uuid>``; raise ``ValueError`` when it is not one.

    Args:
        text: The topic as a client sent it.

    Returns:
        The canonical topic (lower-case kind, canonical UUID text).

    Raises:
        ValueError: Unknown kind or a malformed id.

    """
    kind, sep, ident = text.partition(":")
    if not sep or kind not in TOPIC_KINDS:
        raise ValueError(
            f"unknown topic {text!r}: expected 'tournament:<id>', 'match:<id>', "
            "'task:<id>' or 'instance:<id>'"
        )
    return f"{kind}:{uuid.UUID(ident)}"


class Subscription:
    """One subscriber: a set of topics and a bounded queue of events.

    Create it with :meth:`LiveHub.subscribe`; read it with :meth:`get`; release it with
    :meth:`LiveHub.unsubscribe`.
    """

    def __init__(self, queue_size: int) -> None:
        self.topics: set[str] = set()
        self.dropped = 0
        """Events dropped since the last ``dropped`` notice was queued."""
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)

    def qsize(self) -> int:
        """Events waiting."""
        return self._queue.qsize()

    def offer(self, event: dict[str, Any]) -> bool:
        """Queue ``event`` without waiting; count it as dropped when the queue is full.

        Returns:
            Whether the event was queued.

        """
        if self.dropped and not self._queue.full():
            self._queue.put_nowait({"type": "dropped", "count": self.dropped})
            self.dropped = 0
        if self._queue.full():
            self.dropped += 1
            return False
        self._queue.put_nowait(event)
        return True

    async def get(self) -> dict[str, Any]:
        """The next event, waiting for one; a ``dropped`` notice once room frees."""
        if self._queue.empty() and self.dropped:
            return self._notice()
        event = await self._queue.get()
        if self.dropped:
            # Room just freed: the notice goes after the events queued before the drops.
            self._queue.put_nowait(self._notice())
        return event

    def get_nowait(self) -> dict[str, Any] | None:
        """The next event, or ``None`` when there is none (a notice counts as one)."""
        if self._queue.empty():
            return self._notice() if self.dropped else None
        event = self._queue.get_nowait()
        if self.dropped:
            self._queue.put_nowait(self._notice())
        return event

    def _notice(self) -> dict[str, Any]:
        notice: dict[str, Any] = {"type": "dropped", "count": self.dropped}
        self.dropped = 0
        return notice


class LiveHub:
    """Fan events out from any thread to the subscribers of their topic.

    Args:
        queue_size: Each subscriber's queue bound (:data:`DEFAULT_QUEUE_SIZE`).
        bridge: Carries events and subscriptions to and from other processes; the hub
            gives it :meth:`watch_counts` to answer a late process's ``hello``.
        max_topics: Topics one subscriber may watch at once (:data:`DEFAULT_MAX_TOPICS`).

    Raises:
        ValueError: ``queue_size`` or ``max_topics`` is below 1.

    """

    def __init__(
        self,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        bridge: BusBridge | None = None,
        *,
        max_topics: int = DEFAULT_MAX_TOPICS,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if max_topics < 1:
            raise ValueError("max_topics must be at least 1")
        self.queue_size = queue_size
        self.max_topics = max_topics
        self.bridge = bridge
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscriptions: set[Subscription] = set()
        self._watch_counts: Mapping[str, int] = {}
        # Serialises deliveries on the publishing threads of an unbound hub.
        self._unbound_lock = threading.Lock()
        if bridge is not None:
            bridge.set_watch_source(self.watch_counts)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver events on ``loop`` (the server's loop, captured at startup)."""
        self._loop = loop

    @property
    def subscribers(self) -> int:
        """Subscriptions open now."""
        return len(self._subscriptions)

    def subscribe(self, *topics: str) -> Subscription:
        """Open a subscription (call on the loop), subscribed to ``topics``."""
        subscription = Subscription(self.queue_size)
        subscription.topics.update(topics)
        self._subscriptions.add(subscription)
        self._refresh()
        if self.bridge is not None:
            for topic in subscription.topics:
                self.bridge.watch(topic)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Close a subscription (call on the loop); later events skip it."""
        if subscription not in self._subscriptions:
            return
        self._subscriptions.discard(subscription)
        self._refresh()
        if self.bridge is not None:
            for topic in subscription.topics:
                self.bridge.unwatch(topic)

    def add_topic(self, subscription: Subscription, topic: str) -> None:
        """Subscribe ``subscription`` to one more topic (call on the loop).

        Raises:
            ResourceExhaustedError: It already watches :attr:`max_topics` topics.

        """
        if topic in subscription.topics:
            return
        if len(subscription.topics) >= self.max_topics:
            raise ResourceExhaustedError(
                f"topic {topic!r}: a connection may watch at most {self.max_topics} topics "
                "at once; unsubscribe from one first"
            )
        subscription.topics.add(topic)
        self._refresh()
        if self.bridge is not None:
            self.bridge.watch(topic)

    def remove_topic(self, subscription: Subscription, topic: str) -> None:
        """Unsubscribe ``subscription`` from a topic (call on the loop)."""
        if topic not in subscription.topics:
            return
        subscription.topics.discard(topic)
        self._refresh()
        if self.bridge is not None:
            self.bridge.unwatch(topic)

    def watching(self, topic: str) -> bool:
        """Whether a subscriber here, or a client of another (bridged) process, watches ``topic``.

        Safe from any thread. Publishers of costly events (every step of a match) check it first.
        """
        return topic in self._watch_counts or (
            self.bridge is not None and self.bridge.watched_elsewhere(topic)
        )

    def watch_counts(self) -> Mapping[str, int]:
        """The topics watched here, each with its number of subscriptions; safe from any thread.

        Returns:
            A snapshot (never mutated afterwards): ``{topic: subscriptions}``.

        """
        return self._watch_counts

    def _refresh(self) -> None:
        # One new mapping swapped in: other threads read it without a lock.
        self._watch_counts = dict(Counter(t for s in self._subscriptions for t in s.topics))

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        """Send ``event`` to ``topic``'s subscribers; never blocks, safe from any thread.

        Subscribers receive ``{"topic": topic, **event}``. The bridge (if any) gets the
        event first, bound or not. Locally: on a bound hub the event goes to the loop
        (and is discarded once the loop is closed); on an unbound hub (a worker) it is
        skipped while nobody subscribes here, else delivered on the calling thread.
        """
        if self.bridge is not None:
            self.bridge.publish(topic, event)
        self._offer(topic, event)

    def deliver_remote(self, topic: str, event: dict[str, Any]) -> None:
        """Offer another process's event to the subscribers here; safe from any thread.

        This is the ``deliver`` callback of the bridge's listener (task or thread).
        """
        self._offer(topic, event)

    async def flush(self) -> None:
        """Wait until events published before this call were offered to subscribers."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        loop.call_soon_threadsafe(done.set_result, None)
        await done

    def _offer(self, topic: str, event: dict[str, Any]) -> None:
        loop = self._loop
        if loop is None:
            if self._subscriptions:  # unbound but subscribed to: no loop to hand over to
                with self._unbound_lock:
                    self._deliver(topic, event)
            return
        if loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._deliver, topic, event)
        except RuntimeError:  # the loop closed between the check and the call
            logger.debug("live event on %s discarded: the event loop is closed", topic)

    def _deliver(self, topic: str, event: dict[str, Any]) -> None:
        message = {"topic": topic, **event}
        for subscription in list(self._subscriptions):
            if topic in subscription.topics:
                subscription.offer(message)


__all__ = [
    "DEFAULT_MAX_TOPICS",
    "DEFAULT_QUEUE_SIZE",
    "TOPIC_KINDS",
    "LiveHub",
    "Subscription",
    "match_topic",
    "parse_topic",
    "tournament_topic",
]
