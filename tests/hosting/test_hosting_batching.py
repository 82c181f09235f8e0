"""GroupCommit: concurrent calls share batches, each gets its own result or the batch's error."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from devspark.hosting.batching import GroupCommit


def test_a_lone_call_is_written_at_once_in_a_batch_of_one() -> None:
    seen: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        return [i * 10 for i in items]

    group = GroupCommit(write)
    assert (group(1), group(2)) == (10, 20)
    assert seen == [[1], [2]]


def test_calls_that_arrive_while_a_batch_is_written_share_the_next_one() -> None:
    first_in = threading.Event()
    release = threading.Event()
    seen: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        if items == [0]:
            first_in.set()
            release.wait(10)
        return [i * 10 for i in items]

    group = GroupCommit(write)
    results: dict[int, int] = {}

    def call(item: int) -> None:
        results[item] = group(item)

    leader = threading.Thread(target=call, args=(0,))
    leader.start()
    assert first_in.wait(10)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, 6)]
    for thread in others:
        thread.start()
    while len(group._waiting) < 5:  # all five wait behind the batch being written
        threading.Event().wait(0.001)
    release.set()
    for thread in [leader, *others]:
        thread.join(10)
    assert results == {i: i * 10 for i in range(6)}
    assert seen[0] == [0] and sorted(seen[1]) == [1, 2, 3, 4, 5] and len(seen) == 2
    assert group.batches == 2


def test_a_batch_that_fails_fails_each_of_its_callers_and_the_next_one_runs() -> None:
    def write(items: Sequence[int]) -> list[int]:
        if 13 in items:
            raise RuntimeError("database gone")
        return list(items)

    group = GroupCommit(write)
    with pytest.raises(RuntimeError, match="database gone"):
        group(13)
    assert group(7) == 7


def test_batches_hold_at_most_max_batch_items_and_all_are_answered() -> None:
    sizes: list[int] = []
    lock = threading.Lock()

    def write(items: Sequence[int]) -> list[int]:
        with lock:
            sizes.append(len(items))
        return [-i for i in items]

    group = GroupCommit(write, max_batch=4)
    results: list[int] = []

    def call(item: int) -> None:
        value = group(item)
        with lock:
            results.append(value)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == sorted(-i for i in range(200))
    assert max(sizes) <= 4 and sum(sizes) == 200
