"""Group commit: calls from many threads that arrive together share one transaction.

A :class:`GroupCommit` wraps a function that handles a list of items at once (one
transaction for all). A caller hands in one item and waits for its own result. When no
batch is being written, the caller writes one itself: every item waiting by then, up to
``max_batch``. Items arriving meanwhile wait for the next batch, which the first of them
writes once the current one is done. A lone call is written at once (no timer, no
thread): batching costs nothing when there is no contention, and under load one
transaction carries the tasks of many agents.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot(Generic[Item, Result]):
    __slots__ = ("done", "error", "item", "lead", "result")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = threading.Event()
        self.lead = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """Call ``write`` on batches of items handed in by concurrent threads.

    Args:
        write: Handles a batch; returns one result per item, in order. When it raises,
            every caller of that batch gets the exception.
        max_batch: Most items in one batch.

    """

    def __init__(
        self, write: Callable[[Sequence[Item]], Sequence[Result]], max_batch: int = 64
    ) -> None:
        self.write = write
        self.max_batch = max(1, max_batch)
        self.batches = 0
        """Batches written so far."""
        self._lock = threading.Lock()
        self._waiting: list[_Slot[Item, Result]] = []
        self._busy = False

    def __call__(self, item: Item) -> Result:
        """Write ``item`` (with whatever else waits) and return its result."""
        slot: _Slot[Item, Result] = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            leads = not self._busy
            self._busy = True
        if not leads:
            slot.done.wait()
        if slot.lead or leads:
            self._write_batch()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _write_batch(self) -> None:
        with self._lock:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            self.batches += 1
        try:
            results = self.write([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} items")
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
        except BaseException as exc:
            for slot in batch:
                slot.error = exc
        with self._lock:
            successor = self._waiting[0] if self._waiting else None
            if successor is None:
                self._busy = False
            else:
                successor.lead = True
        for slot in batch:
            slot.lead = False
            slot.done.set()
        if successor is not None:
            successor.done.set()  # it writes the next batch


__all__ = ["GroupCommit"]
