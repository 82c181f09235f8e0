"""The Redis backend (``redis://``, ``rediss://``): pub/sub for channels, Streams for queues.

**Channels** ride Redis pub/sub. A NATS-style pattern becomes a Redis glob at least as
broad (``team.*`` and ``team.>`` both become ``team.*``; a pattern without wildcards is a
plain ``SUBSCRIBE``), and every received message is checked again with
:func:`~devspark.bus.channels.matches`, so the bus's rules hold exactly (``team.*`` never
receives ``team.a.b``). Each subscription has its own connection, released by its
``close()``. Delivery is at most once, to the subscribers of the moment; a publisher never
waits for a subscriber (Redis buffers per client, and disconnects a subscriber that falls
further behind than its ``client-output-buffer-limit pubsub``).

:meth:`RedisTransport.publish_many` sends several messages in one pipeline (one round
trip); :meth:`~devspark.bus.core.Bus.publish_many` gives it batches of envelopes (one
``PUBLISH`` each), which subscriptions unpack.

**Work queues** are Redis Streams read through the consumer group ``devspark`` (the
stream ``devspark:q:<queue>``, its group made on the first take). ``take`` first reclaims
an entry that was taken but not acknowledged in time (``XAUTOCLAIM``), then waits for a new
one (``XREADGROUP BLOCK``). The attempt is the entry's delivery count in the group.

* *Visibility*: an entry comes back once it has been idle (taken and not acknowledged)
  longer than the ``visibility_ms`` of the **take that reclaims it** (``XAUTOCLAIM``'s
  min-idle-time is per call). When every consumer of a queue uses the same visibility, as
  they normally do, that is exactly the visibility of the take that delivered it. A
  waiting ``take`` looks for lapsed entries every :data:`RECLAIM_POLL_S` seconds.
* *Priority* is stored with each entry but not honoured: a stream is first in, first out.
* ``ack`` removes the entry (``XACK`` and ``XDEL``); ``nack`` hands it to the idle
  consumer ``nacked`` as if long overdue, so the next take reclaims it at once with
  attempt + 1. Both act only while this consumer still holds that delivery (one that
  another take reclaimed after its visibility passed is no longer this consumer's to
  settle), as with ``memory://``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError, ResponseError

from devspark.bus.channels import matches
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError

KEY_PREFIX = "devspark:q:"
"""Streams are named ``devspark:q:<queue>``."""

GROUP = "devspark"
"""The consumer group every queue is read through."""

NACKED = "nacked"
"""The consumer that holds nacked entries until the next take reclaims them."""

RECLAIM_POLL_S = 0.1
"""How often a waiting take looks for entries whose visibility has lapsed."""

CONNECT_TIMEOUT_S = 5.0
"""How long :meth:`RedisTransport.open` waits for the server."""

_OVERDUE_MS = 10 * 365 * 24 * 3600 * 1000  # a nacked entry looks idle for ten years

# Reclaim one entry idle for at least ARGV[3] ms, walking the whole pending list; returns
# {id, fields, delivery count} or false.
_RECLAIM = """
local cursor = '0-0'
repeat
  local found = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', 1)
  cursor = found[1]
  local entry = found[2][1]
  if entry then
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
    return {entry[1], entry[2], pending[1][4]}
  end
until cursor == '0-0'
return false
"""

# Settle entry ARGV[2] if consumer ARGV[3] still holds it at delivery count ARGV[4]:
# ARGV[5] == 'ack' removes it, 'nack' makes it overdue under the NACKED consumer.
_SETTLE = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)[1]
if not pending or pending[2] ~= ARGV[3] or tostring(pending[4]) ~= ARGV[4] then
  return 0
end
if ARGV[5] == 'ack' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
else
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[6], 0, ARGV[2], 'IDLE', ARGV[7], 'JUSTID')
end
return 1
"""

# Forget consumer ARGV[2] if it holds nothing (its pending entries would be lost otherwise).
_RETIRE = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""


def to_redis_glob(pattern: str) -> str | None:
    """The Redis glob for a bus pattern, at least as broad; ``None`` when it has no wildcard.

    Tokens hold only letters, digits, ``_`` and ``-``, none of them special in a glob, so
    only the wildcards change: ``*`` and ``>`` both become ``*`` (which also spans dots;
    :func:`~devspark.bus.channels.matches` narrows it again).

    Args:
        pattern: A checked bus pattern (``team.*``, ``team.>``, ``team.red``).

    Returns:
        The glob for ``PSUBSCRIBE``, or ``None`` for a plain channel (``SUBSCRIBE``).

    """
    tokens = pattern.split(".")
    if "*" not in tokens and ">" not in tokens:
        return None
    return ".".join("*" if token in ("*", ">") else token for token in tokens)


def stream_key(queue: str) -> str:
    """The Redis key of the stream behind ``queue``."""
    return KEY_PREFIX + queue


def _redacted(url: str) -> str:
    password = urlsplit(url).password
    return url.replace(f":{password}@", ":***@") if password else url


class _RedisSubscription:
    """One pub/sub connection, filtered by the bus's pattern rules."""

    def __init__(self, pubsub: PubSub, pattern: str, owners: set[_RedisSubscription]) -> None:
        self._pubsub = pubsub
        self.pattern = pattern
        self._owners = owners
        self._closed = False

    async def start(self) -> None:
        """Subscribe, and wait for the server to confirm (so nothing later is missed)."""
        glob = to_redis_glob(self.pattern)
        if glob is None:
            await self._pubsub.subscribe(self.pattern)
        else:
            await self._pubsub.psubscribe(glob)
        while True:
            confirmation = await self._pubsub.get_message(timeout=CONNECT_TIMEOUT_S)
            if confirmation is None:
                raise FailedPreconditionError(
                    f"Redis did not confirm the subscription to {self.pattern!r} "
                    f"within {CONNECT_TIMEOUT_S:g} s"
                )
            if confirmation["type"] in ("subscribe", "psubscribe"):
                return

    async def next(self, timeout_s: float | None) -> tuple[str, bytes] | None:
        """The next matching ``(channel, data)``; ``None`` after ``timeout_s``, or once closed."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while not self._closed:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=left
                )
            except (RedisError, OSError, RuntimeError, AttributeError):
                if self._closed:  # closed by another task while this one waited
                    return None
                raise
            if message is not None and message["type"] in ("message", "pmessage"):
                channel = message["channel"].decode()
                if matches(self.pattern, channel):
                    return channel, bytes(message["data"])
            elif deadline is not None and loop.time() >= deadline:
                return None
        return None

    def poll(self) -> tuple[str, bytes] | None:
        """Always ``None``: reading from Redis waits on the connection (see :meth:`next`)."""
        return None

    async def close(self) -> None:
        """Unsubscribe and release the connection."""
        if self._closed:
            return
        self._closed = True
        self._owners.discard(self)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped


class _RedisDelivery:
    """A stream entry this consumer holds, until it is acknowledged or nacked."""

    def __init__(
        self,
        transport: RedisTransport,
        key: str,
        entry_id: str,
        data: bytes,
        attempt: int,
        visibility_ms: int,
    ) -> None:
        self._transport = transport
        self._key = key
        self.entry_id = entry_id
        self.data = data
        self.attempt = attempt
        self.visibility_ms = visibility_ms
        """The visibility of the take that delivered it."""

    async def ack(self) -> None:
        """Remove the entry (no-op if it is no longer this consumer's delivery)."""
        await self._transport.settle(self, "ack")

    async def nack(self) -> None:
        """Make the entry deliverable again now; the next take counts attempt + 1."""
        await self._transport.settle(self, "nack")

    @property
    def key(self) -> str:
        """The stream the entry is in."""
        return self._key


class RedisTransport:
    """The :class:`~devspark.bus.core.Transport` of ``redis://``: pub/sub and Streams.

    Made by :meth:`open`. Every connection it opens (the command pool and one per
    subscription) carries the client name :attr:`client_name`.

    Args:
        client: The client (its pool is closed by :meth:`close`).
        client_name: The name its connections carry.

    """

    def __init__(self, client: aioredis.Redis, client_name: str) -> None:
        self._client = client
        self.client_name = client_name
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        """This transport's consumer name in every queue's group."""
        self._groups: set[str] = set()
        self._subscriptions: set[_RedisSubscription] = set()
        self._reclaim = client.register_script(_RECLAIM)
        self._settle = client.register_script(_SETTLE)
        self._retire = client.register_script(_RETIRE)

    @classmethod
    async def open(cls, url: str) -> RedisTransport:
        """Connect to the Redis at ``url`` and check it answers.

        Args:
            url: ``redis://[:PASSWORD@]HOST:PORT/DB`` or ``rediss://...``.

        Returns:
            The transport.

        Raises:
            InvalidArgumentError: A URL redis-py cannot read.
            FailedPreconditionError: The server cannot be reached (the message never
                shows the password).

        """
        shown = _redacted(url)
        client_name = f"devspark-bus-{uuid.uuid4().hex[:12]}"
        try:
            client = aioredis.Redis.from_url(
                url, socket_connect_timeout=CONNECT_TIMEOUT_S, client_name=client_name
            )
        except ValueError as exc:
            raise InvalidArgumentError(f"bus url {shown}: {exc}") from None
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            detail = str(exc).replace(urlsplit(url).password or "\0", "***")
            raise FailedPreconditionError(
                f"bus url {shown}: cannot reach Redis: {detail}"
            ) from None
        return cls(client, client_name)

    # ------------------------------------------------------------------ pub/sub

    async def publish(self, channel: str, data: bytes) -> None:
        """``PUBLISH`` ``data`` on ``channel`` (never waits for subscribers)."""
        await self._client.publish(channel, data)

    async def publish_many(self, channel: str, messages: Sequence[bytes]) -> None:
        """``PUBLISH`` each of ``messages`` on ``channel``, in order, in one pipeline."""
        if len(messages) == 1:
            await self._client.publish(channel, messages[0])
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for data in messages:
                pipe.publish(channel, data)
            await pipe.execute()

    async def subscribe(self, pattern: str) -> _RedisSubscription:
        """A subscription on its own connection, active when this returns."""
        subscription = _RedisSubscription(self._client.pubsub(), pattern, self._subscriptions)
        self._subscriptions.add(subscription)
        try:
            await subscription.start()
        except BaseException:
            await subscription.close()
            raise
        return subscription

    # ------------------------------------------------------------------ work queues

    async def enqueue(self, queue: str, data: bytes, priority: int) -> None:
        """``XADD`` the entry (its priority is stored, not used for ordering)."""
        await self._client.xadd(stream_key(queue), {"data": data, "priority": priority})

    async def take(
        self, queue: str, *, visibility_ms: int, timeout_s: float
    ) -> _RedisDelivery | None:
        """A lapsed entry of ``queue`` if there is one, else the next new one.

        Args:
            queue: The queue.
            visibility_ms: How long the entry stays with this consumer unacknowledged
                (and the idle time after which this take reclaims others' entries).
            timeout_s: How long to wait for an entry.

        Returns:
            The delivery, or ``None`` after ``timeout_s`` without one.

        """
        key = stream_key(queue)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            delivery = await self._with_group(key, self._take_lapsed, key, visibility_ms)
            if delivery is None:
                left = max(0.0, deadline - loop.time())
                wait_ms = int(min(left, RECLAIM_POLL_S) * 1000)
                delivery = await self._with_group(key, self._take_new, key, visibility_ms, wait_ms)
            if delivery is not None or loop.time() >= deadline:
                return delivery

    async def _with_group(
        self, key: str, step: Callable[..., Awaitable[_RedisDelivery | None]], *args: Any
    ) -> _RedisDelivery | None:
        """Run ``step`` with the group in place (made once; again if the stream was deleted)."""
        for _ in range(2):
            if key not in self._groups:
                try:
                    await self._client.xgroup_create(key, GROUP, id="0", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._groups.add(key)
            try:
                result = await step(*args)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._groups.discard(key)
                continue
            return result
        raise FailedPreconditionError(f"the consumer group of {key!r} keeps disappearing")

    async def _take_lapsed(self, key: str, visibility_ms: int) -> _RedisDelivery | None:
        found = await self._reclaim(keys=[key], args=[GROUP, self.consumer, visibility_ms])
        if not found:
            return None
        entry_id, fields, count = found
        return self._delivery(key, entry_id, fields, int(count), visibility_ms)

    async def _take_new(self, key: str, visibility_ms: int, wait_ms: int) -> _RedisDelivery | None:
        answer: Any = await self._client.xreadgroup(
            GROUP, self.consumer, {key: ">"}, count=1, block=wait_ms or None
        )
        if not answer:
            return None
        # RESP2: [[stream, [(id, fields)]]]; RESP3 (``?protocol=3``): {stream: [[(id, fields)]]}
        entries = next(iter(answer.values()))[0] if isinstance(answer, dict) else answer[0][1]
        entry_id, fields = entries[0]
        return self._delivery(key, entry_id, fields, 1, visibility_ms)

    def _delivery(
        self, key: str, entry_id: bytes, fields: Any, attempt: int, visibility_ms: int
    ) -> _RedisDelivery:
        if isinstance(fields, list):  # from the script: [name, value, name, value, ...]
            fields = dict(zip(fields[::2], fields[1::2], strict=True))
        return _RedisDelivery(
            self, key, entry_id.decode(), bytes(fields[b"data"]), attempt, visibility_ms
        )

    async def settle(self, delivery: _RedisDelivery, how: str) -> bool:
        """Ack (``"ack"``) or nack (``"nack"``) ``delivery`` if this consumer still holds it.

        Returns:
            Whether it was settled (``False``: it was settled already, or reclaimed by
            another take after its visibility lapsed).

        """
        settled = await self._settle(
            keys=[delivery.key],
            args=[
                GROUP,
                delivery.entry_id,
                self.consumer,
                str(delivery.attempt),
                how,
                NACKED,
                _OVERDUE_MS,
            ],
        )
        return bool(settled)

    async def close(self) -> None:
        """Close every subscription, leave the groups (when holding nothing), close the pool."""
        for subscription in list(self._subscriptions):
            await subscription.close()
        try:
            for key in self._groups:
                try:
                    await self._retire(keys=[key], args=[GROUP, self.consumer])
                except ResponseError:
                    continue  # the stream or its group was deleted: nothing to leave
        except (RedisError, OSError):
            pass  # the server is gone: nothing left to tidy
        finally:
            self._groups.clear()
            await self._client.aclose()


__all__ = ["GROUP", "KEY_PREFIX", "RECLAIM_POLL_S", "RedisTransport", "stream_key", "to_redis_glob"]
