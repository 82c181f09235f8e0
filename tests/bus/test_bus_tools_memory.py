"""Shared memory: versioned keys, compare-and-set, limits, thread safety."""

import threading

import pytest

from devspark.bus.tools import SharedMemory, VersionConflictError
from devspark.core.errors import InvalidArgumentError, ResourceExhaustedError


def test_put_get_versions_and_keys() -> None:
    memory = SharedMemory()
    assert memory.get("team.plan", "goal") is None and memory.version("team.plan", "goal") == 0
    assert memory.put("team.plan", "goal", {"cell": [3, 4]}) == 1
    assert memory.put("team.plan", "goal", {"cell": [5, 5]}) == 2
    entry = memory.get("team.plan", "goal")
    assert entry is not None and (entry.value, entry.version) == ({"cell": [5, 5]}, 2)
    memory.put("team.plan", "scout", 1)
    memory.put("team.other", "goal", 1)
    assert memory.keys("team.plan") == ["goal", "scout"]
    assert memory.keys("team.plan", prefix="sc") == ["scout"]


def test_compare_and_set_refuses_a_moved_key_with_its_current_version() -> None:
    memory = SharedMemory()
    assert memory.put("s", "k", "first", expected_version=0) == 1  # create only
    with pytest.raises(
        VersionConflictError, match="expected version 0, current version 1"
    ) as caught:
        memory.put("s", "k", "again", expected_version=0)
    assert caught.value.current == 1
    assert memory.put("s", "k", "second", expected_version=1) == 2
    with pytest.raises(VersionConflictError, match="expected version 1, current version 2"):
        memory.delete("s", "k", expected_version=1)
    assert memory.delete("s", "k", expected_version=2) is True
    assert memory.delete("s", "k") is False
    # A re-created key does not reuse an old version: a stale writer cannot slip in.
    assert memory.put("s", "k", "third", expected_version=0) == 3


def test_stored_values_are_copies() -> None:
    memory = SharedMemory()
    value = {"list": [1]}
    memory.put("s", "k", value)
    value["list"].append(2)
    entry = memory.get("s", "k")
    assert entry is not None and entry.value == {"list": [1]}


@pytest.mark.parametrize(
    ("space", "key", "value", "message"),
    [
        ("bad..space", "k", 1, "space 'bad..space'"),
        ("team.*", "k", 1, "space 'team.*'"),
        ("s", "", 1, "key '' must be a string"),
        ("s", "k", {1, 2}, "value is not JSON"),
        ("s", "k", float("nan"), "value is not JSON"),
        ("s", "k", "x" * 70_000, "over 65536"),
    ],
)
def test_bad_writes_name_what_is_wrong(space: str, key: str, value: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        SharedMemory().put(space, key, value)


def test_the_key_limit_refuses_new_keys_only() -> None:
    memory = SharedMemory(max_keys=2)
    memory.put("s", "a", 1)
    memory.put("s", "b", 1)
    with pytest.raises(ResourceExhaustedError, match="2 keys"):
        memory.put("s", "c", 1)
    assert memory.put("s", "a", 2) == 2  # an existing key may still change
    memory.delete("s", "b")
    assert memory.put("s", "c", 1) == 1


def test_concurrent_compare_and_set_loses_no_increment() -> None:
    memory = SharedMemory()
    memory.put("s", "count", 0)

    def add(times: int) -> None:
        done = 0
        while done < times:
            entry = memory.get("s", "count")
            assert entry is not None
            try:
                memory.put("s", "count", entry.value + 1, expected_version=entry.version)
            except VersionConflictError:
                continue
            done += 1

    threads = [threading.Thread(target=add, args=(200,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entry = memory.get("s", "count")
    assert entry is not None and entry.value == 800 and entry.version == 801
