"""Live events across processes (servers and workers), over Redis pub/sub.

Matches are played by workers, but WebSocket clients may be connected to any server.
With ``DEVSPARK_REDIS_URL`` set, every process's :class:`~devspark.services.live.LiveHub`
gets a :class:`RedisBridge`: the events it publishes also go to the Redis channel
:data:`CHANNEL`, and the events other processes publish there are delivered to its own
subscribers. Subscriptions travel the same way (``watch``/``unwatch`` notes), so the
worker that plays the match knows it is watched somewhere and publishes its steps.

A server listens with :meth:`RedisBridge.start` (a task on its event loop); a worker,
which has no loop, with :meth:`RedisBridge.start_thread`. Each listener, whenever it
(re)subscribes, sends a ``hello`` carrying its own watches; every other bridge replaces
what it knew of the sender's watches with them and answers with its own. A worker that
starts after a client subscribed, or a process that missed notes while Redis was down,
thus learns what is watched.

Messages are JSON objects with the sender's ``origin`` id; a bridge ignores its own:

- ``{"topic": t, "event": {...}}``: an event;
- ``{"watch": t}`` / ``{"unwatch": t}``: one subscription more / fewer on ``t``;
- ``{"watching": {t: n, ...}}``: all of the sender's watches (replaces the earlier ones);
- ``{"hello": true, "watching": {...}}``: the same, and asks every bridge to answer
  with its ``watching``.

Publishing is one Redis ``PUBLISH`` from the publishing thread (a fraction of a
millisecond on a local Redis); if Redis is down the event still reaches local subscribers
and the failure is logged once per outage, never raised into a match.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import redis
import redis.asyncio as aioredis

from devspark.core.errors import FailedPreconditionError

logger = logging.getLogger(__name__)

CHANNEL = "devspark:live"
"""The Redis channel every process publishes its live events and watches to."""

RECONNECT_DELAY_S = 1.0
"""Seconds a listener waits before it reconnects to Redis after losing it."""

POLL_S = 0.2
"""Longest wait of the thread listener for one message (bounds how long stopping takes)."""

Deliver = Callable[[str, dict[str, Any]], None]
"""Hands an event from another process to local subscribers: ``(topic, event)``."""

WatchSource = Callable[[], Mapping[str, int]]
"""Lists the local watches: ``{topic: subscriptions}`` (``LiveHub.watch_counts``)."""


def _no_watches() -> Mapping[str, int]:
    return {}


class RedisBridge:
    """Carries a hub's events and watches to and from the other processes.

    Args:
        url: The Redis URL (``redis://``, ``rediss://`` or ``unix://``).
        channel: The pub/sub channel.

    """

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._remote: dict[str, Counter[str]] = {}  # origin -> topic -> subscriptions
        self._lock = threading.Lock()  # guards _remote (listener vs. publishing threads)
        self._watch_source: WatchSource = _no_watches
        self._failing = False
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def listener_name(self) -> str:
        """The Redis client name of this bridge's listening connection."""
        return f"devspark-live-{self.origin}"

    @property
    def listening(self) -> bool:
        """Whether a listener (task or thread) of this bridge runs."""
        if self._thread is not None:
            return self._thread.is_alive()
        return self._task is not None and not self._task.done()

    def set_watch_source(self, source: WatchSource) -> None:
        """Use ``source`` to list the local watches a ``hello`` is answered with."""
        self._watch_source = source

    # ------------------------------------------------------------------ outgoing

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        """Send an event to the other processes (best effort, any thread)."""
        self._send({"topic": topic, "event": event})

    def watch(self, topic: str) -> None:
        """Tell the other processes a local client subscribed to ``topic``."""
        self._send({"watch": topic})

    def unwatch(self, topic: str) -> None:
        """Tell the other processes a local client left ``topic``."""
        self._send({"unwatch": topic})

    def hello(self) -> None:
        """Announce all local watches and ask every other bridge to announce theirs."""
        self._send({"hello": True, "watching": dict(self._watch_source())})

    def watched_elsewhere(self, topic: str) -> bool:
        """Whether a client of another process subscribed to ``topic`` (any thread)."""
        with self._lock:
            return any(watches[topic] > 0 for watches in self._remote.values())

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps({"origin": self.origin, **message}, separators=(",", ":"))
        try:
            self._client.publish(self.channel, data)
        except redis.RedisError:
            if not self._failing:
                logger.warning("live events are not reaching other processes", exc_info=True)
            self._failing = True
            return
        if self._failing:
            logger.info("live events reach other processes again")
        self._failing = False

    # ------------------------------------------------------------------ incoming

    def start(self, deliver: Deliver) -> None:
        """Listen on the channel in the running loop; ``deliver`` gets others' events.

        Raises:
            FailedPreconditionError: This bridge listens already.

        """
        self._check_idle()
        self._task = asyncio.get_running_loop().create_task(self._listen(deliver))

    async def stop(self) -> None:
        """Stop the listener task and close the connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._client.close()

    def start_thread(self, deliver: Deliver) -> None:
        """Listen on the channel in a daemon thread (a process without an event loop).

        ``deliver`` is called on that thread (``LiveHub.deliver_remote`` is safe there).
        The thread reconnects after Redis restarts until :meth:`stop_thread`.

        Raises:
            FailedPreconditionError: This bridge listens already.

        """
        self._check_idle()
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._listen_sync, args=(deliver,), name="devspark-live-bridge", daemon=True
        )
        self._thread.start()

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop the listener thread, wait for it, and close the connections.

        Args:
            timeout: Seconds to wait for the thread (it notices within :data:`POLL_S`, or
                a connect timeout while Redis is unreachable).

        """
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("live bridge listener did not stop within %.1f s", timeout)
            self._thread = None
        self._client.close()

    def _check_idle(self) -> None:
        if self._task is not None or self._thread is not None:
            raise FailedPreconditionError(
                f"live bridge {self.origin} listens already on {self.channel!r}"
            )

    async def _listen(self, deliver: Deliver) -> None:
        while True:
            client = aioredis.Redis.from_url(self.url, client_name=self.listener_name)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    async for message in pubsub.listen():
                        self._handle(message, deliver)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live bridge lost Redis; reconnecting in 1 s", exc_info=True)
                await asyncio.sleep(RECONNECT_DELAY_S)
            finally:
                await client.aclose()

    def _listen_sync(self, deliver: Deliver) -> None:
        while not self._stopping.is_set():
            client = redis.Redis.from_url(
                self.url, client_name=self.listener_name, socket_connect_timeout=2
            )
            try:
                # redis-py leaves the sync ``Redis.pubsub`` unannotated.
                with client.pubsub() as pubsub:  # type: ignore[no-untyped-call]
                    pubsub.subscribe(self.channel)
                    while not self._stopping.is_set():
                        message = pubsub.get_message(timeout=POLL_S)
                        if message is not None:
                            self._handle(message, deliver)
            except Exception:
                logger.warning("live bridge lost Redis; reconnecting in 1 s", exc_info=True)
                self._stopping.wait(RECONNECT_DELAY_S)
            finally:
                client.close()

    def _handle(self, message: Mapping[str, Any], deliver: Deliver) -> None:
        kind = message.get("type")
        if kind == "subscribe":  # (re)subscribed: catch up on what we may have missed
            self.hello()
        elif kind == "message":
            try:
                self.receive(message["data"], deliver)
            except Exception:  # a failing subscriber must not stop the listener
                logger.exception("a live event from another process was not delivered")

    def receive(self, data: bytes | str, deliver: Deliver) -> None:
        """Handle one message from the channel (ignores this bridge's own).

        Args:
            data: The message as published (JSON).
            deliver: Gets the events of other processes: ``(topic, event)``.

        """
        try:
            message = json.loads(data)
        except ValueError:
            logger.warning("ignored a malformed live bridge message")
            return
        if not isinstance(message, dict) or message.get("origin") == self.origin:
            return
        origin = str(message.get("origin"))
        if isinstance(message.get("watch"), str):
            with self._lock:
                self._remote.setdefault(origin, Counter())[message["watch"]] += 1
        elif isinstance(message.get("unwatch"), str):
            self._unwatched(origin, message["unwatch"])
        elif isinstance(message.get("watching"), dict):
            self._replace(origin, message["watching"])
            if message.get("hello") is True:
                self._send({"watching": dict(self._watch_source())})
        elif isinstance(message.get("topic"), str) and isinstance(message.get("event"), dict):
            deliver(message["topic"], message["event"])

    def _unwatched(self, origin: str, topic: str) -> None:
        with self._lock:
            watches = self._remote.get(origin)
            if watches is None or watches[topic] <= 0:
                return
            watches[topic] -= 1
            if watches[topic] == 0:
                del watches[topic]

    def _replace(self, origin: str, watching: dict[Any, Any]) -> None:
        watches = Counter(
            {
                topic: count
                for topic, count in watching.items()
                if isinstance(topic, str) and isinstance(count, int) and count > 0
            }
        )
        with self._lock:
            if watches:
                self._remote[origin] = watches
            else:
                self._remote.pop(origin, None)


__all__ = ["CHANNEL", "POLL_S", "RECONNECT_DELAY_S", "Deliver", "RedisBridge", "WatchSource"]
