"""Shared memory in Redis: the same spaces, versions and compare-and-set, across processes.

:class:`RedisSharedMemory` implements :class:`~devspark.bus.tools.memory.MemoryStore`
like :class:`~devspark.bus.tools.memory.SharedMemory`, for hosts in several processes
(API servers and workers) that must share one memory. Every read and write is one Lua
script, so a compare-and-set is atomic in Redis. Layout under a namespace ``NS``
(``devspark:memory`` by default): ``NS:SPACE:data`` (a hash of key -> JSON value),
``NS:SPACE:ver`` (key -> its last version, kept after a delete so versions never
repeat) and ``NS:count`` (keys over all spaces, for the key limit).
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from devspark.bus.tools.access import check_name
from devspark.bus.tools.memory import (
    MAX_KEYS,
    MAX_VALUE_BYTES,
    Entry,
    VersionConflictError,
    check_key,
    checked_value,
)
from devspark.core.errors import FailedPreconditionError, ResourceExhaustedError

_GET = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return {0, ''} end
return {tonumber(redis.call('HGET', KEYS[2], ARGV[1])), value}
"""
_PUT = """
local exists = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local have = 0
if exists then have = last end
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= have then return {-1, have} end
if not exists and tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[4]) then
  return {-2, 0}
end
redis.call('HSET', KEYS[2], ARGV[1], last + 1)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if not exists then redis.call('INCR', KEYS[3]) end
return {last + 1, 0}
"""
_DELETE = """
local exists = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
local have = 0
if exists then have = tonumber(redis.call('HGET', KEYS[2], ARGV[1])) end
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= have then return {-1, have} end
if not exists then return {0, 0} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DECR', KEYS[3])
return {1, 0}
"""


class RedisSharedMemory:
    """Spaces of versioned keys in Redis (see the module documentation)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = "devspark:memory",
        max_keys: int = MAX_KEYS,
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        """A memory on ``client`` (a synchronous redis-py client) under ``namespace``.

        Args:
            client: The connection pool to use (not closed here).
            namespace: The prefix of every Redis key.
            max_keys: Keys over all spaces; a write of a new key past it is refused.
            max_value_bytes: The largest value, as compact JSON.

        """
        self._client = client
        self._owned = False  # from_url made the client: close() closes it
        self._namespace = namespace
        self._max_keys = max_keys
        self._max_value_bytes = max_value_bytes
        self._get = client.register_script(_GET)
        self._put = client.register_script(_PUT)
        self._delete = client.register_script(_DELETE)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisSharedMemory:
        """A memory on the Redis at ``url`` (``redis://HOST:PORT/DB``)."""
        memory = cls(redis.Redis.from_url(url), **options)
        memory._owned = True
        return memory

    def close(self) -> None:
        """Close the client if :meth:`from_url` made it (a given client stays open)."""
        if self._owned:
            self._client.close()

    def get(self, space: str, key: str) -> Entry | None:
        """The entry under ``key`` in ``space``, or ``None`` when there is none."""
        check_key(space, key)
        version, value = self._run(self._get, space, [key])
        return None if not version else Entry(json.loads(value), int(version))

    def version(self, space: str, key: str) -> int:
        """The version of ``key`` (0 when it does not exist)."""
        entry = self.get(space, key)
        return 0 if entry is None else entry.version

    def put(self, space: str, key: str, value: Any, *, expected_version: int | None = None) -> int:
        """Store ``value`` (see :meth:`~devspark.bus.tools.memory.SharedMemory.put`)."""
        text = checked_value(space, key, value, self._max_value_bytes)
        expected = "" if expected_version is None else str(expected_version)
        version, current = self._run(
            self._put, space, [key, text, expected, str(self._max_keys)], count=True
        )
        if version == -1:
            raise VersionConflictError(space, key, cast(int, expected_version), int(current))
        if version == -2:
            raise ResourceExhaustedError(f"shared memory holds {self._max_keys} keys already")
        return int(version)

    def delete(self, space: str, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key`` (see :meth:`~devspark.bus.tools.memory.SharedMemory.delete`)."""
        check_key(space, key)
        expected = "" if expected_version is None else str(expected_version)
        done, current = self._run(self._delete, space, [key, expected], count=True)
        if done == -1:
            raise VersionConflictError(space, key, cast(int, expected_version), int(current))
        return bool(done)

    def keys(self, space: str, prefix: str = "") -> list[str]:
        """The keys of ``space`` that start with ``prefix``, sorted."""
        check_name("space", space)
        try:
            names = cast(list[bytes], self._client.hkeys(self._data(space)))
        except redis.RedisError as exc:
            raise FailedPreconditionError(f"shared memory in Redis: {exc}") from exc
        return sorted(k for name in names if (k := name.decode()).startswith(prefix))

    def _data(self, space: str) -> str:
        return f"{self._namespace}:{space}:data"

    def _run(
        self, script: Any, space: str, args: list[str], *, count: bool = False
    ) -> tuple[Any, Any]:
        keys = [self._data(space), f"{self._namespace}:{space}:ver"]
        if count:
            keys.append(f"{self._namespace}:count")
        try:
            first, second = script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise FailedPreconditionError(f"shared memory in Redis: {exc}") from exc
        return first, second


__all__ = ["RedisSharedMemory"]
