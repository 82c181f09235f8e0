"""A small time-to-live cache for hot public reads (leaderboards).

Public read routes whose data changes only when a match or tournament finishes serve
the same bytes to many clients. :class:`TtlCache` keeps each computed response body for
``ttl_s`` seconds, so a burst of reads costs one database query per key and second
instead of one per request. Entries are bounded (least recently stored are dropped).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

DEFAULT_TTL_S = 1.0
"""How stale a cached response may be."""

DEFAULT_MAX_ENTRIES = 256
"""How many keys are kept at most."""


class TtlCache:
    """Response bodies by key, each valid for ``ttl_s`` seconds.

    Used from the event loop only (no locking). A miss computes the value with the
    function given to :meth:`get_or_compute`; concurrent misses may compute it twice,
    which is harmless for idempotent reads.

    Args:
        ttl_s: Seconds an entry stays valid.
        max_entries: Entries kept at most.
        clock: Monotonic clock (tests substitute one).

    """

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        """The value stored for ``key`` if it has not expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, key: Hashable, value: bytes) -> None:
        """Store ``value`` for ``key`` for the next ``ttl_s`` seconds."""
        self._entries[key] = (self._clock() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()


__all__ = ["DEFAULT_MAX_ENTRIES", "DEFAULT_TTL_S", "TtlCache"]
