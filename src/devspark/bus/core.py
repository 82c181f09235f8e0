"""The bus: every pattern, over any backend that implements the small :class:`Transport` port.

:class:`Bus` gives agents and services the patterns; a backend (``memory://``,
``redis://``, ``nats://``) gives it raw bytes on channels and queues:

* **publish/subscribe** on channels, with wildcards (``team.*``, ``team.>``);
* **direct messages** to an agent instance (its inbox channel, :func:`inbox`);
* **broadcasts** (``kind="broadcast"`` on the ``broadcast`` channel);
* **request/response** with a timeout, correlated by ``correlation_id`` and answered on a
  ``reply_to`` channel of the request's own, which one long-lived reply subscription per
  bus serves (no subscription per request);
* **work queues** with acknowledgement: a taken message not acknowledged within its
  visibility timeout is delivered again; after ``max_attempts`` deliveries it moves to
  the dead-letter queue ``<queue>.dead``.

**Batches**: :meth:`Bus.publish_many` checks and encodes every envelope first, then sends
them together (a backend may carry several in one wire message); a subscription reads
a batch back one envelope at a time.

Envelopes are checked and size-limited on the way out (the sender gets the error) and
on the way in (a bad message is counted and dropped, never raised into a subscriber).
Expired messages (``ttl_ms``) are dropped on delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from devspark.bus.channels import check_channel, check_pattern, inbox
from devspark.bus.envelope import (
    MAX_BYTES,
    Envelope,
    encode_batch,
    is_batch,
    make,
    make_many,
    new_id,
    unpack,
)
from devspark.core.errors import DeadlineExceededError, InvalidArgumentError

logger = logging.getLogger(__name__)

BROADCAST = "broadcast"
"""The channel broadcasts go to: every instance subscribes to it."""

DEFAULT_VISIBILITY_MS = 30_000
"""How long a taken queue message stays invisible before it is delivered again."""

DEFAULT_MAX_ATTEMPTS = 5
"""Deliveries of a queue message before it goes to the dead-letter queue."""


T = TypeVar("T")


class Mailbox(Generic[T]):
    """A bounded buffer that callbacks fill and async readers empty: no task, no timer per item.

    A reader finds a buffered item at once; only a reader that has to wait sets up a
    future (and a timer when it has a timeout). When full, :meth:`offer` drops the oldest
    item (``keep="newest"``) or the offered one (``keep="oldest"``), counting it in
    :attr:`dropped`: a producer never waits for a slow reader.

    Args:
        limit: Items held at most.
        keep: Which items survive when it is full.

    """

    def __init__(self, limit: int, *, keep: Literal["newest", "oldest"] = "newest") -> None:
        self.items: deque[T] = deque()
        self.limit = limit
        self.keep = keep
        self.dropped = 0
        self.closed = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    def poll(self) -> T | None:
        """The next item if there is one, else ``None`` (never waits)."""
        return self.items.popleft() if self.items else None

    def offer(self, item: T) -> bool:
        """Buffer ``item`` and wake a waiting reader; ``False`` if it was dropped (full or closed)."""
        if self.closed:
            return False
        if len(self.items) >= self.limit:
            self.dropped += 1
            if self.keep == "oldest":
                return False
            self.items.popleft()
        self.items.append(item)
        if self._waiters:
            self._wake()
        return True

    async def get(self, timeout_s: float | None) -> T | None:
        """The next item; ``None`` after ``timeout_s`` without one, or once closed."""
        if self.items:
            return self.items.popleft()
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while not self.closed:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            timer = None if deadline is None else loop.call_at(deadline, _resolve, waiter)
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                if not waiter.done():  # the reader was cancelled
                    waiter.cancel()
                if waiter in self._waiters:  # timed out or cancelled, not woken by an offer:
                    self._waiters.remove(waiter)  # a reader polling an idle mailbox leaks none
            if self.items:
                return self.items.popleft()
            if deadline is not None and loop.time() >= deadline:
                return None
        return None

    def close(self) -> None:
        """Take no more items and forget those held; waiting readers get ``None``."""
        self.closed = True
        self.items.clear()
        while self._waiters:
            _resolve(self._waiters.popleft())

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class RawSubscription(Protocol):
    """A backend's subscription: raw messages on the channels a pattern matches."""

    async def next(self, timeout_s: float | None) -> tuple[str, bytes] | None:
        """The next ``(channel, data)``; ``None`` after ``timeout_s`` without one."""
        ...

    def poll(self) -> tuple[str, bytes] | None:
        """The next ``(channel, data)`` if one is already here, else ``None`` (never waits)."""
        ...

    async def close(self) -> None:
        """Stop receiving."""
        ...


class RawDelivery(Protocol):
    """A backend's queue message, taken but not yet acknowledged."""

    data: bytes
    attempt: int
    """1 for the first delivery, 2 after one redelivery, and so on."""

    async def ack(self) -> None:
        """Done: never deliver it again."""
        ...

    async def nack(self) -> None:
        """Not done: deliver it again now (counts as an attempt)."""
        ...


class Transport(Protocol):
    """What a backend provides; :class:`Bus` builds every pattern on it."""

    async def publish(self, channel: str, data: bytes) -> None:
        """Send ``data`` to the subscribers of ``channel`` now (at most once)."""
        ...

    async def publish_many(self, channel: str, messages: Sequence[bytes]) -> None:
        """Send ``messages`` to the subscribers of ``channel``, in order, in one go (at most once).

        Each is one wire message (an envelope, or a batch of them that subscriptions
        unpack); a backend sends them in as few round trips as it can.
        """
        ...

    async def subscribe(self, pattern: str) -> RawSubscription:
        """Receive what is published from now on to channels matching ``pattern``."""
        ...

    async def enqueue(self, queue: str, data: bytes, priority: int) -> None:
        """Store ``data`` in ``queue`` until a consumer acknowledges it."""
        ...

    async def take(self, queue: str, *, visibility_ms: int, timeout_s: float) -> RawDelivery | None:
        """The next message of ``queue``, hidden from others for ``visibility_ms``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@dataclass
class Delivery:
    """A work-queue message taken by this consumer.

    Attributes:
        envelope: The message.
        attempt: Which delivery this is (1 the first time).

    """

    envelope: Envelope
    attempt: int
    _raw: RawDelivery

    async def ack(self) -> None:
        """The work is done: the message is never delivered again."""
        await self._raw.ack()

    async def nack(self) -> None:
        """The work failed: deliver the message again (an attempt is counted)."""
        await self._raw.nack()


class Subscription:
    """Envelopes on the channels a pattern matches, as an async iterator.

    Messages that are not envelopes, oversized or expired are dropped and counted in
    :attr:`dropped`.
    """

    def __init__(self, raw: RawSubscription, pattern: str, max_bytes: int) -> None:
        self.pattern = pattern
        self._raw = raw
        self._max_bytes = max_bytes
        self._ready: deque[Envelope] = deque()  # the rest of a batch already read
        self.dropped = 0

    async def get(self, timeout_s: float | None = None) -> Envelope | None:
        """The next envelope; ``None`` after ``timeout_s`` seconds without one."""
        deadline = None
        while True:
            while self._ready:
                envelope = self._ready.popleft()
                if envelope.ttl_ms is not None and envelope.expired():
                    self.dropped += 1
                    continue
                return envelope
            received = self._raw.poll()  # under load the next one is already here
            if received is None:
                if timeout_s is None:
                    left = None
                else:
                    loop = asyncio.get_running_loop()
                    if deadline is None:
                        deadline = loop.time() + timeout_s
                    left = max(0.0, deadline - loop.time())
                received = await self._raw.next(left)
                if received is None:
                    return None
            data = received[1]
            if is_batch(data):
                envelopes, problems = unpack(data, self._max_bytes)
                for problem in problems:
                    self.dropped += 1
                    logger.warning("dropped a message on %s: %s", self.pattern, problem)
                self._ready.extend(envelopes)
                continue
            try:
                envelope = Envelope.decode(data, self._max_bytes)
            except InvalidArgumentError as exc:
                self.dropped += 1
                logger.warning("dropped a message on %s: %s", self.pattern, exc)
                continue
            if envelope.ttl_ms is not None and envelope.expired():
                self.dropped += 1
                continue
            return envelope

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Envelope]:
        while (envelope := await self.get()) is not None:
            yield envelope

    async def __aenter__(self) -> Subscription:
        """``async with await bus.subscribe(pattern) as subscription:`` closes it on exit."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop receiving (what was already read from a batch is dropped too)."""
        self._ready.clear()
        await self._raw.close()


class Bus:
    """Messages between agents, services and the platform, over one backend.

    Made by :func:`devspark.bus.connect`; use it as ``async with``.

    Args:
        transport: The backend.
        url: Its URL (shown in errors and docs; the password is not kept).
        max_bytes: The largest envelope on the wire.
        max_attempts: Deliveries of a queue message before it is dead-lettered.

    """

    def __init__(
        self,
        transport: Transport,
        url: str,
        *,
        max_bytes: int = MAX_BYTES,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if max_attempts < 1:
            raise InvalidArgumentError(f"max_attempts={max_attempts} must be at least 1")
        self.transport = transport
        self.url = url
        self.max_bytes = max_bytes
        self.max_attempts = max_attempts
        self._reply_prefix = f"_reply.{new_id()}"
        self._replies: Subscription | None = None
        self._router: asyncio.Task[None] | None = None
        self._reply_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._asked = 0
        self._waiting: dict[str, tuple[str, asyncio.Future[Envelope]]] = {}

    async def __aenter__(self) -> Bus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ pub/sub

    async def publish(self, channel: str, payload: Any = None, **fields: Any) -> Envelope:
        """Publish an event (or ``kind=...``) on ``channel``; the envelope sent.

        Raises:
            InvalidArgumentError: A bad channel or field, or an oversized message.

        """
        envelope = make(channel, payload, **fields)
        await self.transport.publish(channel, envelope.encode(self.max_bytes))
        return envelope

    async def send_envelope(self, envelope: Envelope) -> None:
        """Publish a ready envelope on its channel."""
        await self.transport.publish(envelope.channel, envelope.encode(self.max_bytes))

    async def publish_many(
        self, channel: str, payloads: Iterable[Any], **fields: Any
    ) -> list[Envelope]:
        """Publish one event (or ``kind=...``) per payload on ``channel``, as a batch.

        Every envelope is made, checked and encoded before any is sent, so a bad field
        or an oversized message refuses the whole batch. The envelopes then travel in
        order, as few wire messages as fit in ``max_bytes`` each (JSON arrays of
        envelopes, :func:`~devspark.bus.envelope.encode_batch`), in one round trip: the
        same guarantee per message as :meth:`publish` (at most once, in order), at a
        fraction of the cost per message.

        Returns:
            The envelopes sent, in order.

        Raises:
            InvalidArgumentError: A bad channel or field, or an oversized message (nothing
                is sent).

        """
        envelopes = make_many(channel, payloads, **fields)
        if envelopes:
            await self.transport.publish_many(channel, encode_batch(envelopes, self.max_bytes))
        return envelopes

    async def send_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        """Publish ready envelopes on their channels, in order, as a batch.

        All are encoded (and size-checked) before any is sent; consecutive envelopes on
        one channel travel together.

        Raises:
            InvalidArgumentError: One is oversized or its payload is not JSON (nothing
                is sent).

        """
        runs: list[tuple[str, list[bytes]]] = []
        start = 0
        while start < len(envelopes):
            channel = envelopes[start].channel
            end = start + 1
            while end < len(envelopes) and envelopes[end].channel == channel:
                end += 1
            runs.append((channel, encode_batch(envelopes[start:end], self.max_bytes)))
            start = end
        for channel, messages in runs:  # every one encoded (and checked) before any is sent
            await self.transport.publish_many(channel, messages)

    async def subscribe(self, pattern: str) -> Subscription:
        """Receive what is published from now on on channels matching ``pattern``."""
        check_pattern(pattern)
        return Subscription(await self.transport.subscribe(pattern), pattern, self.max_bytes)

    # ------------------------------------------------------------------ direct, broadcast

    async def send(self, to: str, payload: Any = None, **fields: Any) -> Envelope:
        """A direct message (a ``command`` unless told) to one agent instance."""
        fields.setdefault("kind", "command")
        return await self.publish(inbox(to), payload, to=to, **fields)

    async def listen(self, agent: str) -> Subscription:
        """The direct messages of ``agent`` from now on."""
        return await self.subscribe(inbox(agent))

    async def broadcast(self, payload: Any = None, **fields: Any) -> Envelope:
        """A ``broadcast`` to everyone listening on :data:`BROADCAST`."""
        return await self.publish(BROADCAST, payload, kind="broadcast", **fields)

    # ------------------------------------------------------------------ request/response

    async def request(
        self, channel: str, payload: Any = None, *, timeout_ms: int = 1000, **fields: Any
    ) -> Envelope:
        """Ask on ``channel`` (an agent's inbox, or a service channel) and wait for one answer.

        The answer comes back on a reply channel of this request's own
        (``_reply.<bus>.<n>``), which the bus's one reply subscription (made by the first
        request) hands to the request with the same correlation id.

        Raises:
            DeadlineExceededError: No response within ``timeout_ms``.
            InvalidArgumentError: A bad channel or field.

        """
        if timeout_ms <= 0:
            raise InvalidArgumentError(f"timeout_ms={timeout_ms} must be positive")
        check_channel(channel)
        self._asked += 1
        reply_to = f"{self._reply_prefix}.{self._asked}"
        question = make(
            channel,
            payload,
            kind="request",
            reply_to=reply_to,
            correlation_id=fields.pop("correlation_id", None) or new_id(),
            ttl_ms=fields.pop("ttl_ms", None) or timeout_ms,
            **fields,
        )
        await self._start_replies()
        answer: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._waiting[reply_to] = (question.correlation_id or "", answer)
        try:
            await self.send_envelope(question)
            return await asyncio.wait_for(answer, timeout_ms / 1000)
        except TimeoutError:
            raise DeadlineExceededError(
                f"no response on {channel!r} within {timeout_ms} ms "
                f"(request {question.correlation_id})"
            ) from None
        finally:
            del self._waiting[reply_to]

    async def _start_replies(self) -> None:
        """Subscribe to this bus's reply channels once, and route what arrives there."""
        if self._replies is not None and self._router_alive():
            return
        loop = asyncio.get_running_loop()
        if self._reply_lock is None or self._reply_lock[0] is not loop:
            self._reply_lock = (loop, asyncio.Lock())  # a lock belongs to one loop
        async with self._reply_lock[1]:
            if self._replies is None or not self._router_alive():
                stale, self._replies = self._replies, None
                if stale is not None:  # left by a loop that has ended
                    with contextlib.suppress(Exception):
                        await stale.close()
                replies = await self.subscribe(self._reply_prefix + ".*")
                self._router = asyncio.get_running_loop().create_task(
                    self._route_replies(replies), name=f"bus replies {self._reply_prefix}"
                )
                self._replies = replies

    def _router_alive(self) -> bool:
        """Whether the reply router runs on this loop (a bus used from a new loop starts one)."""
        router = self._router
        return (
            router is not None
            and not router.done()
            and router.get_loop() is asyncio.get_running_loop()
        )

    async def _route_replies(self, replies: Subscription) -> None:
        """Hand each response to the request waiting on its reply channel and correlation."""
        try:
            while (answer := await replies.get()) is not None:
                waiting = self._waiting.get(answer.channel)
                if waiting is None or waiting[0] != answer.correlation_id:
                    continue  # a late answer (its request timed out), or a stray one
                if not waiting[1].done():
                    waiting[1].set_result(answer)
        except Exception as exc:  # the backend failed: the next request subscribes afresh
            logger.warning("bus %s: the reply subscription failed: %s", self.url, exc)
            for _, waiting_answer in list(self._waiting.values()):
                if not waiting_answer.done():  # the requests waiting now fail with it
                    waiting_answer.set_exception(exc)
        finally:
            if self._replies is replies:
                self._replies = None
                self._router = None
            await replies.close()

    async def reply(self, request: Envelope, payload: Any = None, **fields: Any) -> Envelope:
        """Answer ``request`` on its ``reply_to`` channel, with its correlation id.

        Raises:
            InvalidArgumentError: ``request`` asked for no reply.

        """
        if request.reply_to is None:
            raise InvalidArgumentError(f"message {request.id} has no reply_to: nothing to answer")
        return await self.publish(
            request.reply_to,
            payload,
            kind="response",
            correlation_id=request.correlation_id,
            **fields,
        )

    # ------------------------------------------------------------------ work queues

    async def enqueue(self, queue: str, payload: Any = None, **fields: Any) -> Envelope:
        """Put work on ``queue``; it stays until a consumer acknowledges it."""
        fields.setdefault("kind", "command")
        envelope = make(queue, payload, **fields)
        await self.transport.enqueue(queue, envelope.encode(self.max_bytes), envelope.priority)
        return envelope

    async def take(
        self,
        queue: str,
        *,
        visibility_ms: int = DEFAULT_VISIBILITY_MS,
        timeout_s: float = 1.0,
    ) -> Delivery | None:
        """The next message of ``queue`` (``None`` after ``timeout_s`` without one).

        It is hidden from other consumers for ``visibility_ms``; acknowledge it with
        :meth:`Delivery.ack`, or it is delivered again. A message delivered more than
        :attr:`max_attempts` times, or that is not an envelope, goes to ``<queue>.dead``.
        """
        check_channel(queue)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            left = max(0.0, deadline - loop.time())
            raw = await self.transport.take(queue, visibility_ms=visibility_ms, timeout_s=left)
            if raw is None:
                return None
            try:
                envelope = Envelope.decode(raw.data, self.max_bytes)
            except InvalidArgumentError as exc:
                logger.warning("dead-lettered a malformed message on %s: %s", queue, exc)
                await self._dead_letter(queue, raw)
                continue
            if raw.attempt > self.max_attempts:
                logger.warning(
                    "dead-lettered message %s on %s after %d deliveries",
                    envelope.id,
                    queue,
                    raw.attempt - 1,
                )
                await self._dead_letter(queue, raw, envelope.priority)
                continue
            if envelope.expired():
                await raw.ack()
                continue
            return Delivery(envelope=envelope, attempt=raw.attempt, _raw=raw)

    async def _dead_letter(self, queue: str, raw: RawDelivery, priority: int = 5) -> None:
        await self.transport.enqueue(dead_letters(queue), raw.data, priority)
        await raw.ack()

    async def close(self) -> None:
        """Release the backend's connections (requests still waiting time out)."""
        router, self._router = self._router, None
        replies, self._replies = self._replies, None
        if router is not None:
            router.cancel()
            try:
                await router
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        if replies is not None:
            await replies.close()
        await self.transport.close()


def dead_letters(queue: str) -> str:
    """The dead-letter queue of ``queue``."""
    return f"{queue}.dead"


__all__ = [
    "BROADCAST",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_VISIBILITY_MS",
    "Bus",
    "Delivery",
    "Mailbox",
    "RawDelivery",
    "RawSubscription",
    "Subscription",
    "Transport",
    "dead_letters",
]
