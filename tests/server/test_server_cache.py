"""The TTL cache behind hot public reads."""

from __future__ import annotations

from devspark.server.cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache = TtlCache(ttl_s=1.0, clock=clock)
    assert cache.get("a") is None
    cache.put("a", b"1")
    clock.now += 0.99
    assert cache.get("a") == b"1"
    clock.now += 0.02
    assert cache.get("a") is None
    cache.put("a", b"2")
    assert cache.get("a") == b"2"
    cache.clear()
    assert cache.get("a") is None


def test_the_oldest_entries_go_first_when_full() -> None:
    cache = TtlCache(ttl_s=60, max_entries=2, clock=Clock())
    cache.put("a", b"1")
    cache.put("b", b"2")
    cache.put("a", b"3")  # stored again: now the newest
    cache.put("c", b"4")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"3", None, b"4")
