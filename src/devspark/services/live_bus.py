"""Live events across processes (servers and workers), riding the message bus.

Matches are played by workers, but WebSocket clients may be connected to any server.
With a bus URL (``DEVSPARK_BUS_URL``: ``redis://...`` or ``nats://...``; a
``DEVSPARK_REDIS_URL`` alone is used as one), every process's
:class:`~devspark.services.live.LiveHub` gets a :class:`BusBridge`: the events it
publishes also go to the bus channel :data:`CHANNEL`, and the events other processes
publish there are delivered to its own subscribers. Subscriptions travel the same way
(``watch``/``unwatch`` notes), so the worker that plays a match knows it is watched
somewhere and publishes its steps.

The bridge keeps its own thread with its own event loop and bus connection, so it is
the same in a server (whose loop must never wait on the bus) and in a worker (which has
no loop): :meth:`BusBridge.publish` and the notes hand a message to that loop and return
at once, from any thread. Each time its listener (re)subscribes, the bridge sends a
``hello`` carrying its own watches; every other bridge replaces what it knew of the
sender's watches with them and answers with its own. A worker that starts after a client
subscribed, or a process that missed notes while the bus was down, thus learns what is
watched.

Payloads are JSON objects with the sender's ``origin`` id; a bridge ignores its own:

- ``{"topic": t, "event": {...}}``: an event;
- ``{"watch": t}`` / ``{"unwatch": t}``: one subscription more / fewer on ``t``;
- ``{"watching": {t: n, ...}}``: all of the sender's watches (replaces the earlier ones);
- ``{"hello": true, "watching": {...}}``: the same, and asks every bridge to answer
  with its ``watching``.

If the bus is down the event still reaches local subscribers; the failure is logged once
per outage and never raised into a match. Live events are at most once, as the bus's
publish/subscribe is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from devspark.bus import Bus, Subscription, connect
from devspark.core.errors import FailedPreconditionError

logger = logging.getLogger(__name__)

CHANNEL = "devspark.live"
"""The bus channel every process publishes its live events and watches to."""

RECONNECT_DELAY_S = 1.0
"""Seconds the listener waits before it reconnects after losing the bus."""

POLL_S = 0.2
"""Longest wait of the listener for one message (bounds how long stopping takes)."""

Deliver = Callable[[str, dict[str, Any]], None]
"""Hands an event from another process to local subscribers: ``(topic, event)``."""

WatchSource = Callable[[], Mapping[str, int]]
"""Lists the local watches: ``{topic: subscriptions}`` (``LiveHub.watch_counts``)."""


def _no_watches() -> Mapping[str, int]:
    return {}


class BusBridge:
    """Carries a hub's events and watches to and from the other processes, over the bus.

    Args:
        url: The bus URL (``redis://``, ``rediss://``, ``nats://``, ``tls://``).
        channel: The bus channel.

    """

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self._remote: dict[str, Counter[str]] = {}  # origin -> topic -> subscriptions
        self._lock = threading.Lock()  # guards _remote (listener vs. publishing threads)
        self._watch_source: WatchSource = _no_watches
        self._failing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: asyncio.Queue[dict[str, Any]] | None = None
        self._bus: Bus | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._subscribed = threading.Event()

    @property
    def listening(self) -> bool:
        """Whether the bridge's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def set_watch_source(self, source: WatchSource) -> None:
        """Use ``source`` to list the local watches a ``hello`` is answered with."""
        self._watch_source = source

    # ------------------------------------------------------------------ outgoing

    def publish(self, topic: str, event: dict[str, Any]) -> None:
        """Send an event to the other processes (best effort, any thread, never waits)."""
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
        loop, outbox = self._loop, self._outbox
        if loop is None or outbox is None or self._bus is None:
            self._failed("the live bridge is not connected")
            return
        payload = {"origin": self.origin, **message}
        try:  # one queue, one sender: notes and events leave in the order they were made
            loop.call_soon_threadsafe(outbox.put_nowait, payload)
        except RuntimeError:  # the loop is stopping
            return

    async def _send_all(self, bus: Bus, outbox: asyncio.Queue[dict[str, Any]]) -> None:
        sender = "live-" + self.origin
        while True:
            payload = await outbox.get()
            try:
                await bus.publish(self.channel, payload, sender=sender)
            except Exception as exc:  # the bus is down: this one is lost, the next may pass
                self._failed(f"{type(exc).__name__}: {exc}")
                continue
            if self._failing:
                logger.info("live events reach other processes again")
                self._failing = False

    def _failed(self, reason: str) -> None:
        if not self._failing:
            logger.warning("live events are not reaching other processes: %s", reason)
        self._failing = True

    # ------------------------------------------------------------------ lifecycle

    def start(self, deliver: Deliver, timeout_s: float = 5.0) -> None:
        """Connect and listen in the bridge's own thread; ``deliver`` gets others' events.

        ``deliver`` is called on that thread (``LiveHub.deliver_remote`` is safe there).
        Waits up to ``timeout_s`` for the first subscription, so events published right
        after this call travel; the thread reconnects after the bus restarts until
        :meth:`stop`.

        Raises:
            FailedPreconditionError: This bridge listens already.

        """
        if self._thread is not None:
            raise FailedPreconditionError(f"live bridge {self.origin} listens already")
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, args=(deliver,), name="devspark-live-bridge", daemon=True
        )
        self._thread.start()
        if not self._subscribed.wait(timeout_s):
            logger.warning("the live bridge has not reached %s yet; it keeps trying", self.url)

    start_thread = start  # the name workers used before the bridge had a thread of its own

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, close the bus connection and wait for the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("live bridge did not stop within %.1f s", timeout)
            self._thread = None

    stop_thread = stop

    def _run(self, deliver: Deliver) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._listen(deliver))
        finally:
            self._loop = None
            loop.close()

    async def _listen(self, deliver: Deliver) -> None:
        self._outbox = asyncio.Queue()
        while not self._stopping.is_set():
            sending: asyncio.Task[None] | None = None
            try:
                bus = self._bus = await connect(self.url)
                sending = asyncio.create_task(self._send_all(bus, self._outbox))
                subscription = await bus.subscribe(self.channel)
                # (Re)subscribed: catch up on what we may have missed. The hello is queued
                # before start() returns, so a note sent after it is never overwritten
                # by the hello's (older) list of watches at the other end.
                self.hello()
                self._subscribed.set()
                await self._receive(subscription, deliver)
            except Exception as exc:  # the bus went away: try again
                self._failed(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(RECONNECT_DELAY_S)
            finally:
                if sending is not None:
                    sending.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sending
                connected, self._bus = self._bus, None
                if connected is not None:
                    await _close_quietly(connected)

    async def _receive(self, subscription: Subscription, deliver: Deliver) -> None:
        try:
            while not self._stopping.is_set():
                envelope = await subscription.get(POLL_S)
                if envelope is not None and isinstance(envelope.payload, dict):
                    try:
                        self.receive(envelope.payload, deliver)
                    except Exception:  # a failing subscriber must not stop the listener
                        logger.exception("a live event from another process was not delivered")
        finally:
            await subscription.close()

    # ------------------------------------------------------------------ incoming

    def receive(self, message: Mapping[str, Any], deliver: Deliver) -> None:
        """Handle one payload from the channel (ignores this bridge's own).

        Args:
            message: The payload as published.
            deliver: Gets the events of other processes: ``(topic, event)``.

        """
        if message.get("origin") == self.origin:
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


async def _close_quietly(bus: Bus) -> None:
    try:
        await bus.close()
    except Exception:  # already broken: nothing more to release
        logger.debug("closing the live bridge's bus failed", exc_info=True)


__all__ = ["CHANNEL", "POLL_S", "RECONNECT_DELAY_S", "BusBridge", "Deliver", "WatchSource"]
