"""A bound on concurrent password hashing (argon2 takes 64 MiB and a core per call).

Without a bound, N simultaneous logins run N argon2 computations at once: memory grows
by 64 MiB each and every one of them gets slower. :class:`HashSlots` lets at most
``size`` hash or verify calls run at a time in the process; the others wait their turn.
The default, :data:`PASSWORD_SLOTS`, has one slot per CPU the process may run on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from devspark.core.errors import InvalidArgumentError

__all__ = ["PASSWORD_SLOTS", "HashSlots", "cpu_slots"]


def cpu_slots() -> int:
    """How many CPUs this process may run on (its affinity mask; at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


class HashSlots:
    """A counting semaphore that also tells how many callers hold or wait for a slot.

    Args:
        size: Slots, at least 1.

    Raises:
        InvalidArgumentError: ``size`` is below 1.

    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise InvalidArgumentError(f"size must be at least 1, got {size}")
        self.size = size
        self.active = 0
        self.waiting = 0
        self._condition = threading.Condition()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for a free slot, hold it for the ``with`` block, then give it back."""
        with self._condition:
            self.waiting += 1
            self._condition.notify_all()
            self._condition.wait_for(lambda: self.active < self.size)
            self.waiting -= 1
            self.active += 1
        try:
            yield
        finally:
            with self._condition:
                self.active -= 1
                self._condition.notify_all()

    def wait_for(self, *, active: int, waiting: int, timeout: float) -> bool:
        """Block until exactly ``active`` slots are held and ``waiting`` callers wait.

        Args:
            active: Slots held.
            waiting: Callers waiting for a slot.
            timeout: Seconds to wait at most.

        Returns:
            Whether that state was reached before the timeout.

        """
        with self._condition:
            return self._condition.wait_for(
                lambda: (self.active, self.waiting) == (active, waiting), timeout
            )


PASSWORD_SLOTS = HashSlots(cpu_slots())
"""The process-wide bound on argon2 work: one slot per usable CPU."""
