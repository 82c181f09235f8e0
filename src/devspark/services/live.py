"""Live events: a publish/subscribe hub between worker threads and WebSocket clients.

:class:`LiveHub` is bound to the server's event loop at startup. Worker threads (the
tournament runner) call :meth:`LiveHub.publish`, which never blocks: it hands the event
to the loop with ``call_soon_threadsafe`` and returns. On the loop the event is offered
to every :class:`Subscription` of its topic, each with its own bounded queue. A full
queue drops the event for that subscriber only and counts it; once the subscriber has
room again it receives a single ``{"type": "dropped", "count": n}`` notice before any
newer event. A slow client therefore never slows a match, nor another client.

Topics are ``tournament:<uuid>`` and ``match:<uuid>`` (see :func:`parse_topic`).

All subscription state is touched on the loop thread only; :meth:`LiveHub.publish` is
the one method meant for other threads.

With a :class:`~devspark.server.bridge.RedisBridge` (``DEVSPARK_REDIS_URL``), events and
subscriptions also travel between server processes, so a client of any server sees the
matches the server holding the runner lease plays.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from devspark.core.errors import ResourceExhaustedError

if TYPE_CHECKING:
    from devspark.server.bridge import RedisBridge

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256
"""Events buffered per subscriber before newer ones are dropped."""

DEFAULT_MAX_TOPICS = 100
"""Topics one subscriber (one WebSocket connection) may watch at once."""

TOPIC_KINDS = ("tournament", "match")
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
        raise ValueError(f"unknown topic {text!r}: expected 'tournament:<id>' or 'match:<id>'")
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
        bridge: Carries events and subscriptions to and from other servers.
        max_topics: Topics one subscriber may watch at once (:data:`DEFAULT_MAX_TOPICS`).

    """

    def __init__(
        self,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        bridge: RedisBridge | None = None,
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
        self._watched: frozenset[str] = frozenset()

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
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Close a subscription (call on the loop); later events skip it."""
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
        """Whether anyone here, or on another (bridged) server, watches ``topic``.

        Safe from any thread. Publishers of costly events (every step of a match) check it first.
        """
        return topic in self._watched or (
            self.bridge is not None and self.bridge.watched_elsewhere(topic)
        )

    def _refresh(self) -> None:
        # One new frozenset swapped in: other threads read it without a lock.
        self._watched = frozenset(t for s in self._subscriptions for t in s.topics)

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        """Send ``event`` to ``topic``'s subscribers; never blocks, safe from any thread.

        Subscribers receive ``{"topic": topic, **event}``. Before :meth:`bind`, or once
        the loop is closed, the event is discarded.
        """
        if self.bridge is not None:
            self.bridge.publish(topic, event)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._deliver, topic, event)
        except RuntimeError:  # the loop closed between the check and the call
            logger.debug("live event on %s discarded: the event loop is closed", topic)

    def deliver_remote(self, topic: str, event: dict[str, Any]) -> None:
        """Offer another server's event to the subscribers here (call on the loop)."""
        self._deliver(topic, event)

    async def flush(self) -> None:
        """Wait until events published before this call were offered to subscribers."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        loop.call_soon_threadsafe(done.set_result, None)
        await done

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
