"""Live events across server processes, over Redis pub/sub.

Only the server holding the runner lease plays matches, but WebSocket clients may be
connected to any server. With ``DEVSPARK_REDIS_URL`` set, every server's
:class:`~devspark.server.live.LiveHub` gets a :class:`RedisBridge`: the events it
publishes also go to the Redis channel :data:`CHANNEL`, and the events other servers
publish there are delivered to its own subscribers. Subscriptions travel the same way
(``watch``/``unwatch`` notes), so the playing server knows a match is watched somewhere
and publishes its steps.

Messages are JSON objects with the sender's ``origin`` id; a server ignores its own.
Publishing is one Redis ``PUBLISH`` from the runner thread (a fraction of a millisecond
on a local Redis); if Redis is down the event still reaches local subscribers and the
failure is logged once per outage, never raised into a match.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

CHANNEL = "devspark:live"
"""The Redis channel every server publishes its live events and watches to."""

Deliver = Callable[[str, dict[str, Any]], None]
"""Hands an event from another server to local subscribers: ``(topic, event)``."""


class RedisBridge:
    """Carries a hub's events and watches to and from the other servers.

    Args:
        url: The Redis URL (``redis://``, ``rediss://`` or ``unix://``).
        channel: The pub/sub channel.

    """

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._remote_watches: Counter[str] = Counter()
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ outgoing

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        """Send an event to the other servers (best effort, any thread)."""
        self._send({"topic": topic, "event": event})

    def watch(self, topic: str) -> None:
        """Tell the other servers a local client subscribed to ``topic``."""
        self._send({"watch": topic})

    def unwatch(self, topic: str) -> None:
        """Tell the other servers a local client left ``topic``."""
        self._send({"unwatch": topic})

    def watched_elsewhere(self, topic: str) -> bool:
        """Whether a client of another server subscribed to ``topic``."""
        return self._remote_watches[topic] > 0

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps({"origin": self.origin, **message}, separators=(",", ":"))
        try:
            self._client.publish(self.channel, data)
        except redis.RedisError:
            if not self._failing:
                logger.warning("live events are not reaching other servers", exc_info=True)
            self._failing = True
            return
        if self._failing:
            logger.info("live events reach other servers again")
        self._failing = False

    # ------------------------------------------------------------------ incoming

    def start(self, deliver: Deliver) -> None:
        """Listen on the channel in the running loop; ``deliver`` gets others' events."""
        self._task = asyncio.get_running_loop().create_task(self._listen(deliver))

    async def stop(self) -> None:
        """Stop listening and close the connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._client.close()

    async def _listen(self, deliver: Deliver) -> None:
        while True:
            client = aioredis.Redis.from_url(self.url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.receive(message["data"], deliver)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live bridge lost Redis; reconnecting in 1 s", exc_info=True)
                await asyncio.sleep(1)
            finally:
                await client.aclose()

    def receive(self, data: bytes | str, deliver: Deliver) -> None:
        """Handle one message from the channel (ignores this server's own)."""
        try:
            message = json.loads(data)
        except ValueError:
            logger.warning("ignored a malformed live bridge message")
            return
        if not isinstance(message, dict) or message.get("origin") == self.origin:
            return
        if isinstance(message.get("watch"), str):
            self._remote_watches[message["watch"]] += 1
        elif isinstance(message.get("unwatch"), str):
            topic = message["unwatch"]
            self._remote_watches[topic] = max(0, self._remote_watches[topic] - 1)
        elif isinstance(message.get("topic"), str) and isinstance(message.get("event"), dict):
            deliver(message["topic"], message["event"])


__all__ = ["CHANNEL", "Deliver", "RedisBridge"]
