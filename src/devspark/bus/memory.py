"""The in-process backend (``memory://``): the embedded default, and the reference.

Everything lives in this process and its event loop: a published message is handed to
every matching subscription's queue at once; a work queue is a priority heap (highest
``priority`` first, then oldest) whose taken messages come back when their visibility
timeout passes without an acknowledgement. Buses made with the same ``memory://NAME``
URL in one process share one broker (``memory://`` alone is a private one).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from devspark.bus.channels import matches
from devspark.bus.core import Mailbox

DEFAULT_BACKLOG = 10_000
"""Messages a subscription buffers before the oldest are dropped (slow subscriber)."""


class _MemorySubscription:
    def __init__(self, broker: MemoryBroker, pattern: str) -> None:
        self.broker = broker
        self.pattern = pattern
        wild = "*" in pattern or ">" in pattern
        self.exact: str | None = None if wild else pattern  # a plain channel: one comparison
        self.mailbox: Mailbox[tuple[str, bytes]] = Mailbox(DEFAULT_BACKLOG, keep="newest")

    @property
    def dropped(self) -> int:
        """Messages lost because this subscriber fell more than the backlog behind."""
        return self.mailbox.dropped

    def wants(self, channel: str) -> bool:
        exact = self.exact
        return exact == channel if exact is not None else matches(self.pattern, channel)

    def offer(self, channel: str, data: bytes) -> None:
        self.mailbox.offer((channel, data))  # a slow subscriber loses its oldest, never blocks

    async def next(self, timeout_s: float | None) -> tuple[str, bytes] | None:
        return await self.mailbox.get(timeout_s)

    def poll(self) -> tuple[str, bytes] | None:
        return self.mailbox.poll()

    async def close(self) -> None:
        self.broker.remove(self)
        self.mailbox.close()


@dataclass(order=True)
class _Entry:
    rank: tuple[int, int]  # (-priority, sequence): highest priority, then oldest
    data: bytes = field(compare=False)
    attempt: int = field(compare=False, default=0)


class _MemoryDelivery:
    def __init__(self, queue: _MemoryQueue, entry: _Entry, timer: asyncio.TimerHandle) -> None:
        self._queue = queue
        self._entry = entry
        self._timer = timer
        self._done = False
        self.data = entry.data
        self.attempt = entry.attempt

    async def ack(self) -> None:
        self._finish()

    async def nack(self) -> None:
        if self._finish():
            self._queue.put_back(self._entry)

    def _finish(self) -> bool:
        if self._done:
            return False
        self._done = True
        self._timer.cancel()
        self._queue.in_flight.discard(self)
        return True

    def expire(self) -> None:
        """The visibility timeout passed without an ack: back to the queue."""
        if not self._done:
            self._done = True
            self._queue.in_flight.discard(self)
            self._queue.put_back(self._entry)


class _MemoryQueue:
    def __init__(self) -> None:
        self.heap: list[_Entry] = []
        self.in_flight: set[_MemoryDelivery] = set()
        self.ready = asyncio.Event()

    def put(self, entry: _Entry) -> None:
        heapq.heappush(self.heap, entry)
        self.ready.set()

    def put_back(self, entry: _Entry) -> None:
        self.put(entry)


class MemoryBroker:
    """The shared state of the buses of one ``memory://NAME``."""

    def __init__(self) -> None:
        self.subscriptions: set[_MemorySubscription] = set()
        self.current: tuple[_MemorySubscription, ...] = ()
        """The subscriptions as a snapshot a publish can walk while others come and go."""
        self.queues: dict[str, _MemoryQueue] = {}
        self.sequence = itertools.count()

    def add(self, subscription: _MemorySubscription) -> None:
        """Start delivering to ``subscription``."""
        self.subscriptions.add(subscription)
        self.current = tuple(self.subscriptions)

    def remove(self, subscription: _MemorySubscription) -> None:
        """Stop delivering to ``subscription``."""
        self.subscriptions.discard(subscription)
        self.current = tuple(self.subscriptions)


_brokers: dict[str, MemoryBroker] = {}


class MemoryTransport:
    """The :class:`~devspark.bus.core.Transport` of ``memory://``.

    Args:
        name: Buses with the same non-empty name share a broker in this process.

    """

    def __init__(self, name: str = "") -> None:
        self.broker = _brokers.setdefault(name, MemoryBroker()) if name else MemoryBroker()

    async def publish(self, channel: str, data: bytes) -> None:
        """Hand ``data`` to every matching subscription."""
        for subscription in self.broker.current:
            if subscription.wants(channel):
                subscription.offer(channel, data)

    async def publish_many(self, channel: str, messages: Sequence[bytes]) -> None:
        """Hand each of ``messages`` to every matching subscription, in order."""
        for subscription in self.broker.current:
            if subscription.wants(channel):
                for data in messages:
                    subscription.offer(channel, data)

    async def subscribe(self, pattern: str) -> _MemorySubscription:
        """A subscription to ``pattern``."""
        subscription = _MemorySubscription(self.broker, pattern)
        self.broker.add(subscription)
        return subscription

    def _queue(self, name: str) -> _MemoryQueue:
        return self.broker.queues.setdefault(name, _MemoryQueue())

    async def enqueue(self, queue: str, data: bytes, priority: int) -> None:
        """Add ``data`` to ``queue``."""
        self._queue(queue).put(_Entry((-priority, next(self.broker.sequence)), data))

    async def take(
        self, queue: str, *, visibility_ms: int, timeout_s: float
    ) -> _MemoryDelivery | None:
        """The next entry of ``queue``, back after ``visibility_ms`` unless acknowledged."""
        state = self._queue(queue)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not state.heap:
            state.ready.clear()
            left = deadline - loop.time()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(state.ready.wait(), left)
            except TimeoutError:
                return None
        entry = heapq.heappop(state.heap)
        entry.attempt += 1
        holder: list[_MemoryDelivery] = []
        timer = loop.call_later(visibility_ms / 1000, lambda: holder[0].expire())
        delivery = _MemoryDelivery(state, entry, timer)
        holder.append(delivery)
        state.in_flight.add(delivery)
        return delivery

    async def close(self) -> None:
        """Nothing to release (the broker lives as long as the process)."""


__all__ = ["DEFAULT_BACKLOG", "MemoryBroker", "MemoryTransport"]
