"""The bus: every pattern, over any backend that implements the small :class:`Transport` port.

:class:`Bus` gives agents and services the patterns; a backend (``memory://``,
``redis://``, ``nats://``) gives it raw bytes on channels and queues:

* **publish/subscribe** on channels, with wildcards (``team.*``, ``team.>``);
* **direct messages** to an agent instance (its inbox channel, :func:`inbox`);
* **broadcasts** (``kind="broadcast"`` on the ``broadcast`` channel);
* **request/response** with a timeout, correlated by ``correlation_id`` and answered on a
  private ``reply_to`` channel;
* **work queues** with acknowledgement: a taken message not acknowledged within its
  visibility timeout is delivered again; after ``max_attempts`` deliveries it moves to
  the dead-letter queue ``<queue>.dead``.

Envelopes are checked and size-limited on the way out (the sender gets the error) and
on the way in (a bad message is counted and dropped, never raised into a subscriber).
Expired messages (``ttl_ms``) are dropped on delivery.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from devspark.bus.channels import check_channel, check_pattern, inbox
from devspark.bus.envelope import MAX_BYTES, Envelope, make
from devspark.core.errors import DeadlineExceededError, InvalidArgumentError

logger = logging.getLogger(__name__)

BROADCAST = "broadcast"
"""The channel broadcasts go to: every instance subscribes to it."""

DEFAULT_VISIBILITY_MS = 30_000
"""How long a taken queue message stays invisible before it is delivered again."""

DEFAULT_MAX_ATTEMPTS = 5
"""Deliveries of a queue message before it goes to the dead-letter queue."""


class RawSubscription(Protocol):
    """A backend's subscription: raw messages on the channels a pattern matches."""

    async def next(self, timeout_s: float | None) -> tuple[str, bytes] | None:
        """The next ``(channel, data)``; ``None`` after ``timeout_s`` without one."""
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
        self.dropped = 0

    async def get(self, timeout_s: float | None = None) -> Envelope | None:
        """The next envelope; ``None`` after ``timeout_s`` seconds without one."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while True:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            received = await self._raw.next(left)
            if received is None:
                return None
            _, data = received
            try:
                envelope = Envelope.decode(data, self._max_bytes)
            except InvalidArgumentError as exc:
                self.dropped += 1
                logger.warning("dropped a message on %s: %s", self.pattern, exc)
                continue
            if envelope.expired():
                self.dropped += 1
                continue
            return envelope

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Envelope]:
        while (envelope := await self.get()) is not None:
            yield envelope

    async def close(self) -> None:
        """Stop receiving."""
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
        await self.send_envelope(envelope)
        return envelope

    async def send_envelope(self, envelope: Envelope) -> None:
        """Publish a ready envelope on its channel."""
        await self.transport.publish(envelope.channel, envelope.encode(self.max_bytes))

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

        Raises:
            DeadlineExceededError: No response within ``timeout_ms``.
            InvalidArgumentError: A bad channel or field.

        """
        if timeout_ms <= 0:
            raise InvalidArgumentError(f"timeout_ms={timeout_ms} must be positive")
        check_channel(channel)
        reply_to = f"_reply.{uuid.uuid4().hex}"
        answers = await self.subscribe(reply_to)
        try:
            question = make(
                channel,
                payload,
                kind="request",
                reply_to=reply_to,
                correlation_id=fields.pop("correlation_id", None) or uuid.uuid4().hex,
                ttl_ms=fields.pop("ttl_ms", None) or timeout_ms,
                **fields,
            )
            await self.send_envelope(question)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_ms / 1000
            while (left := deadline - loop.time()) > 0:
                answer = await answers.get(left)
                if answer is not None and answer.correlation_id == question.correlation_id:
                    return answer
            raise DeadlineExceededError(
                f"no response on {channel!r} within {timeout_ms} ms "
                f"(request {question.correlation_id})"
            )
        finally:
            await answers.close()

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
        """Release the backend's connections."""
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
    "RawDelivery",
    "RawSubscription",
    "Subscription",
    "Transport",
    "dead_letters",
]
