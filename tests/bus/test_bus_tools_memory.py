"""Shared memory: versioned keys, compare-and-set, limits, thread safety.

Every test runs on both stores: in this process and in the real Redis.
"""

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from devspark.bus.tools import Entry, SharedMemory, ToolRouter, VersionConflictError
from devspark.bus.tools.memory import MemoryStore
from devspark.bus.tools.redis_memory import RedisSharedMemory
from devspark.core.errors import InvalidArgumentError, ResourceExhaustedError

MakeMemory = Callable[..., MemoryStore]


@pytest.fixture(params=["process", "redis"])
def make_memory(request: pytest.FixtureRequest) -> Iterator[MakeMemory]:
    """Builds an empty memory of either kind (Redis: a namespace of its own, then removed)."""
    if request.param == "process":
        yield SharedMemory
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    namespace = f"test:memory:{uuid.uuid4().hex[:12]}"
    try:
        yield lambda **options: RedisSharedMemory(client, namespace=namespace, **options)
    finally:
        for name in client.scan_iter(match=f"{namespace}:*"):
            client.delete(name)
        client.close()


def test_put_get_versions_and_keys(make_memory: MakeMemory) -> None:
    memory = make_memory()
    assert memory.get("team.plan", "goal") is None and memory.version("team.plan", "goal") == 0
    assert memory.put("team.plan", "goal", {"cell": [3, 4]}) == 1
    assert memory.put("team.plan", "goal", {"cell": [5, 5]}) == 2
    entry = memory.get("team.plan", "goal")
    assert entry is not None and (entry.value, entry.version) == ({"cell": [5, 5]}, 2)
    memory.put("team.plan", "scout", 1)
    memory.put("team.other", "goal", 1)
    assert memory.keys("team.plan") == ["goal", "scout"]
    assert memory.keys("team.plan", prefix="sc") == ["scout"]


def test_compare_and_set_refuses_a_moved_key_with_its_current_version(
    make_memory: MakeMemory,
) -> None:
    memory = make_memory()
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


def test_stored_values_are_copies(make_memory: MakeMemory) -> None:
    memory = make_memory()
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
def test_bad_writes_name_what_is_wrong(
    make_memory: MakeMemory, space: str, key: str, value: object, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        make_memory().put(space, key, value)


def test_the_key_limit_refuses_new_keys_only(make_memory: MakeMemory) -> None:
    memory = make_memory(max_keys=2)
    memory.put("s", "a", 1)
    memory.put("s", "b", 1)
    with pytest.raises(ResourceExhaustedError, match="2 keys"):
        memory.put("s", "c", 1)
    assert memory.put("s", "a", 2) == 2  # an existing key may still change
    memory.delete("s", "b")
    assert memory.put("s", "c", 1) == 1


def test_concurrent_compare_and_set_loses_no_increment(make_memory: MakeMemory) -> None:
    memory = make_memory()
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


def test_two_hosts_on_one_redis_share_the_memory(redis_url: str) -> None:
    namespace = f"test:memory:{uuid.uuid4().hex[:12]}"
    first, second = (redis.Redis.from_url(redis_url) for _ in range(2))
    try:
        one = RedisSharedMemory(first, namespace=namespace)
        other = RedisSharedMemory.from_url(redis_url, namespace=namespace)
        router = ToolRouter(lambda who: ["bus:request:sys.*", "memory:write:team.*"], memory=one)
        line = {"to": "sys.memory", "payload": {"op": "put", "space": "team.a", "key": "k"}}
        line["payload"]["value"] = {"plan": 1}
        assert router.answer("ada", line) == {"ok": True, "payload": {"version": 1}}
        assert other.get("team.a", "k") == Entry({"plan": 1}, 1)
        with pytest.raises(VersionConflictError, match="current version 1"):
            other.put("team.a", "k", 2, expected_version=0)
        other.close()
    finally:
        for name in second.scan_iter(match=f"{namespace}:*"):
            second.delete(name)
        first.close()
        second.close()
