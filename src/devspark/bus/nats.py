"""The NATS backend (``nats://HOST:PORT``, ``tls://``): core NATS subjects and JetStream.

* **Publish/subscribe** uses core NATS subjects directly: the bus's channel syntax is
  NATS's own (``*`` one token, ``>`` the rest), so a pattern is subscribed as it is.
  Delivery is at most once, to the subscribers connected when the message is published.
  Each subscription buffers up to :data:`PENDING_MSGS` messages (:data:`PENDING_BYTES`
  bytes); beyond that the client drops what a slow subscriber has not read (counted in
  :attr:`NatsTransport.slow_drops`) rather than slowing the connection or its publishers.
  :meth:`~devspark.bus.core.Bus.publish_many` sends batches of envelopes (one NATS
  message each, counted once against that limit).
* **Work queues** use JetStream: one stream, :data:`STREAM` (file storage, work-queue
  retention, subjects ``devspark.q.>``), created on first use; queue ``jobs`` is the
  subject ``devspark.q.jobs``. Each queue has one durable pull consumer (explicit acks,
  unlimited deliveries: the :class:`~devspark.bus.core.Bus` dead-letters by itself) that
  every process taking from the queue shares, so a message goes to one taker at a time.
  ``attempt`` is JetStream's delivery count; ``ack`` removes the message from the
  stream; ``nack`` asks for redelivery now.
* **Visibility** is the consumer's ``ack_wait``, which JetStream keeps per consumer, so
  per queue, not per message: the first ``take`` on a queue creates (or updates) the
  consumer with its ``visibility_ms``, and a later ``take`` with another value updates
  the consumer, which then applies to every message of that queue still unacknowledged.
  Takers of one queue should agree on one visibility timeout.
* **Priority** travels in the envelope but does not reorder a queue: JetStream delivers
  in publication order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Sequence

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType

from devspark.bus.core import Mailbox
from devspark.core.errors import FailedPreconditionError

logger = logging.getLogger(__name__)

STREAM = "DEVSPARK_QUEUES"
"""The JetStream stream that holds every work queue."""

QUEUE_PREFIX = "devspark.q."
"""The subject of queue ``jobs`` is ``devspark.q.jobs``."""

CONNECT_TIMEOUT_S = 2
"""How long :meth:`NatsTransport.open` waits for the server."""

RECONNECT_ATTEMPTS = 60
"""Reconnection attempts after a live connection drops (then the client gives up)."""

RECONNECT_WAIT_S = 2
"""Seconds between reconnection attempts."""

PENDING_MSGS = 10_000
"""Messages a subscription buffers before the client drops new ones (slow subscriber)."""

PENDING_BYTES = 64 * 1024 * 1024
"""Bytes a subscription buffers before the client drops new ones (slow subscriber)."""

MIN_FETCH_S = 0.05
"""The shortest wait JetStream is asked for (``take`` with ``timeout_s=0`` polls this long)."""

MAX_ACK_PENDING = 100_000
"""Taken, unacknowledged messages a queue may have at once."""

CONSUMER_IDLE_S = 24 * 3600.0
"""A queue's consumer not pulled from for this long is removed by the server (its
messages stay in the stream; the next ``take`` makes a new consumer, whose delivery
counts start again from 1)."""


def queue_subject(queue: str) -> str:
    """The JetStream subject of ``queue``."""
    return QUEUE_PREFIX + queue


def consumer_name(queue: str) -> str:
    """The durable consumer of ``queue``: readable, unique by a hash (no dots allowed)."""
    readable = re.sub(r"[^A-Za-z0-9_\-]", "_", queue)[:48]
    return f"q_{readable}_{hashlib.sha256(queue.encode()).hexdigest()[:12]}"


class _NatsSubscription:
    """A core NATS subscription whose callback fills a :class:`~devspark.bus.core.Mailbox`.

    The client hands each message to :meth:`_receive` (on the subscription's one task);
    :meth:`next` takes it from the mailbox without a task or a timer of its own, unless it
    has to wait. Past :data:`PENDING_MSGS` messages or :data:`PENDING_BYTES` bytes unread,
    new messages are dropped and counted in :attr:`NatsTransport.slow_drops`.
    """

    def __init__(self, transport: NatsTransport) -> None:
        self._transport = transport
        self._sub: Subscription | None = None
        self.mailbox: Mailbox[tuple[str, bytes]] = Mailbox(PENDING_MSGS, keep="oldest")
        self._bytes = 0

    async def start(self, pattern: str) -> None:
        """Subscribe; the server knows the subscription when this returns."""
        self._sub = await self._transport._nc.subscribe(
            pattern,
            cb=self._receive,
            pending_msgs_limit=PENDING_MSGS,
            pending_bytes_limit=PENDING_BYTES,
        )
        # A message published right after this returns must not miss the subscription.
        await self._transport._nc.flush()

    async def _receive(self, msg: Msg) -> None:
        if self.mailbox.closed:
            return
        size = len(msg.data)
        if len(self.mailbox.items) >= PENDING_MSGS or self._bytes + size > PENDING_BYTES:
            self._transport.slow_drops += 1  # a slow subscriber: drop, never push back
            return
        self._bytes += size
        self.mailbox.offer((msg.subject, msg.data))

    async def next(self, timeout_s: float | None) -> tuple[str, bytes] | None:
        """The next ``(subject, data)``; ``None`` after ``timeout_s``, or once closed."""
        item = await self.mailbox.get(timeout_s)
        if item is not None:
            self._bytes -= len(item[1])
        return item

    def poll(self) -> tuple[str, bytes] | None:
        """The next ``(subject, data)`` already received, else ``None`` (never waits)."""
        item = self.mailbox.poll()
        if item is not None:
            self._bytes -= len(item[1])
        return item

    async def close(self) -> None:
        """Unsubscribe; a waiting :meth:`next` returns ``None``."""
        if self.mailbox.closed:
            return
        self.mailbox.close()
        self._bytes = 0
        self._transport._subscriptions.discard(self)
        if self._sub is not None:
            with contextlib.suppress(
                nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError
            ):
                await self._sub.unsubscribe()


class _NatsDelivery:
    """A JetStream message taken from a queue's consumer."""

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self.data = msg.data
        self.attempt = msg.metadata.num_delivered

    async def ack(self) -> None:
        """Remove it from the queue (work-queue retention drops acknowledged messages)."""
        await self._msg.ack()

    async def nack(self) -> None:
        """Ask JetStream to deliver it again now."""
        await self._msg.nak()


class NatsTransport:
    """The :class:`~devspark.bus.core.Transport` of ``nats://`` (core NATS and JetStream).

    Made by :meth:`open`.

    Args:
        nc: A connected client.
        url: The server's URL (for error messages).

    """

    def __init__(self, nc: Client, url: str) -> None:
        self._nc = nc
        self._url = url
        self._js: JetStreamContext = nc.jetstream()
        self._stream_ready = False
        self._stream_lock = asyncio.Lock()
        self._consumers: dict[str, tuple[JetStreamContext.PullSubscription, int]] = {}
        self._consumer_lock = asyncio.Lock()
        self._subscriptions: set[_NatsSubscription] = set()
        self.slow_drops = 0
        """Messages the client dropped because a subscriber was too slow."""

    @classmethod
    async def open(cls, url: str) -> NatsTransport:
        """Connect to the NATS server at ``url``.

        The first connection is tried twice, for :data:`CONNECT_TIMEOUT_S` each; once
        connected, the client reconnects by itself if the connection drops
        (:data:`RECONNECT_ATTEMPTS` times, :data:`RECONNECT_WAIT_S` apart).

        Args:
            url: ``nats://HOST:PORT`` or ``tls://HOST:PORT``.

        Returns:
            The connected transport.

        Raises:
            FailedPreconditionError: The server cannot be reached.

        """
        holder: list[NatsTransport] = []

        async def on_error(exc: Exception) -> None:
            if isinstance(exc, nats.errors.SlowConsumerError):
                if holder:
                    holder[0].slow_drops += 1
                return
            logger.warning("nats %s: %s", url, exc)

        nc = Client()
        try:
            # One quick try (a second after a short pause), not the client's minutes of
            # retries: a server that is down fails the caller now.
            await nc.connect(
                url,
                connect_timeout=CONNECT_TIMEOUT_S,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,  # type: ignore[arg-type]  # seconds, int-annotated
                error_cb=on_error,
            )
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            cause = nc.last_error or exc
            raise FailedPreconditionError(
                f"bus url {url!r}: cannot reach NATS: {cause or type(cause).__name__}"
            ) from exc
        # Once connected, a dropped connection is retried as the client usually does;
        # the client reads these options when a live connection drops.
        nc.options["allow_reconnect"] = True
        nc.options["max_reconnect_attempts"] = RECONNECT_ATTEMPTS
        nc.options["reconnect_time_wait"] = RECONNECT_WAIT_S
        transport = cls(nc, url)
        holder.append(transport)
        return transport

    # ------------------------------------------------------------------ pub/sub

    async def publish(self, channel: str, data: bytes) -> None:
        """Publish ``data`` on the subject ``channel`` (at most once)."""
        await self._nc.publish(channel, data)

    async def publish_many(self, channel: str, messages: Sequence[bytes]) -> None:
        """Publish each of ``messages`` on ``channel``, in order (at most once).

        Like :meth:`publish`, it returns once the client has them in its send buffer,
        which it writes out in one go; it does not wait for a round trip to the server
        (a ``flush`` per call would cap a publisher at one batch per round trip). The
        client makes a publisher wait when more than its pending limit is unsent.
        """
        for data in messages:
            await self._nc.publish(channel, data)

    async def subscribe(self, pattern: str) -> _NatsSubscription:
        """A subscription to the subjects ``pattern`` matches, from now on."""
        subscription = _NatsSubscription(self)
        self._subscriptions.add(subscription)
        try:
            await subscription.start(pattern)
        except BaseException:
            await subscription.close()
            raise
        return subscription

    # ------------------------------------------------------------------ work queues

    async def _ensure_stream(self) -> None:
        if self._stream_ready:
            return
        async with self._stream_lock:
            if self._stream_ready:
                return
            try:
                try:
                    await self._js.stream_info(STREAM)
                except nats.js.errors.NotFoundError:
                    await self._js.add_stream(
                        name=STREAM,
                        subjects=[QUEUE_PREFIX + ">"],
                        retention=RetentionPolicy.WORK_QUEUE,
                        storage=StorageType.FILE,
                    )
            except (nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError) as exc:
                raise FailedPreconditionError(
                    f"bus url {self._url!r}: NATS has no JetStream (start nats-server with -js)"
                ) from exc
            self._stream_ready = True

    async def _consumer(self, queue: str, visibility_ms: int) -> JetStreamContext.PullSubscription:
        known = self._consumers.get(queue)
        if known is not None and known[1] == visibility_ms:
            return known[0]
        async with self._consumer_lock:
            known = self._consumers.get(queue)
            if known is not None and known[1] == visibility_ms:
                return known[0]
            await self._ensure_stream()
            name = consumer_name(queue)
            # Creating an existing durable consumer with another ack_wait updates it.
            await self._js.add_consumer(
                STREAM,
                ConsumerConfig(
                    durable_name=name,
                    filter_subject=queue_subject(queue),
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=visibility_ms / 1000,
                    max_deliver=-1,
                    max_ack_pending=MAX_ACK_PENDING,
                    inactive_threshold=CONSUMER_IDLE_S,
                ),
            )
            if known is None:
                pull = await self._js.pull_subscribe_bind(durable=name, stream=STREAM)
            else:
                pull = known[0]
            self._consumers[queue] = (pull, visibility_ms)
            return pull

    async def enqueue(self, queue: str, data: bytes, priority: int) -> None:
        """Store ``data`` in ``queue``'s subject; returns once JetStream has it.

        ``priority`` does not reorder the queue (JetStream keeps publication order).
        """
        await self._ensure_stream()
        await self._js.publish(queue_subject(queue), data, stream=STREAM)

    async def take(
        self, queue: str, *, visibility_ms: int, timeout_s: float
    ) -> _NatsDelivery | None:
        """The next message of ``queue``; delivered again if not acked within ``visibility_ms``."""
        pull = await self._consumer(queue, visibility_ms)
        try:
            msgs = await pull.fetch(1, timeout=max(timeout_s, MIN_FETCH_S))
        except nats.errors.TimeoutError:
            return None
        return _NatsDelivery(msgs[0])

    async def close(self) -> None:
        """Close every subscription and the connection (flushing what is still unsent)."""
        for subscription in list(self._subscriptions):
            await subscription.close()
        self._subscriptions.clear()
        for pull, _ in self._consumers.values():
            with contextlib.suppress(nats.errors.Error):
                await pull.unsubscribe()
        self._consumers.clear()
        if not self._nc.is_closed:
            try:
                await self._nc.flush(timeout=CONNECT_TIMEOUT_S)
            except nats.errors.Error:
                logger.warning("nats %s: could not flush before closing", self._url)
            await self._nc.close()


__all__ = [
    "CONNECT_TIMEOUT_S",
    "PENDING_BYTES",
    "PENDING_MSGS",
    "QUEUE_PREFIX",
    "STREAM",
    "NatsTransport",
    "consumer_name",
    "queue_subject",
]
