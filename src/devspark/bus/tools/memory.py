"""Shared memory: named spaces of key -> (value, version), with compare-and-set writes.

Every key has a version: 0 while it does not exist, 1 once written, +1 per write. A
write may name the version it expects (``expected_version``): when the key moved on
since, the write is refused with :class:`VersionConflictError` carrying the current
version, so two agents that read-modify-write the same key never lose an update.
``expected_version=0`` means "only if the key does not exist yet".

Access is by capability on the space name (``memory:read:PATTERN``,
``memory:write:PATTERN``), checked by :class:`~devspark.bus.tools.router.ToolRouter`;
this class itself trusts its caller. It is thread-safe and in-process.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from devspark.bus.tools.access import check_name
from devspark.core.errors import ConflictError, InvalidArgumentError, ResourceExhaustedError

MAX_VALUE_BYTES = 64 * 1024
"""The largest value (as compact JSON)."""
MAX_KEYS = 4096
"""Keys over all spaces of one :class:`SharedMemory`."""
MAX_KEY = 255
"""The longest key, in characters."""


class VersionConflictError(ConflictError):
    """A compare-and-set write found another version than it expected.

    Attributes:
        current: The key's version now (0: it does not exist).

    """

    def __init__(self, space: str, key: str, expected: int, current: int) -> None:
        super().__init__(
            f"version conflict on {space}/{key}: expected version {expected}, "
            f"current version {current}"
        )
        self.current = current


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored value and its version."""

    value: Any
    version: int


class MemoryStore(Protocol):
    """What :class:`~devspark.bus.tools.router.ToolRouter` needs of a shared memory.

    :class:`SharedMemory` (this process) and
    :class:`~devspark.bus.tools.redis_memory.RedisSharedMemory` (shared by every process
    using one Redis) implement it, with the same versions and errors.
    """

    def get(self, space: str, key: str) -> Entry | None:
        """The entry under ``key`` in ``space``, or ``None``."""
        ...

    def put(self, space: str, key: str, value: Any, *, expected_version: int | None = None) -> int:
        """Store ``value``; the new version (or :class:`VersionConflictError`)."""
        ...

    def delete(self, space: str, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key``; whether it existed (or :class:`VersionConflictError`)."""
        ...

    def keys(self, space: str, prefix: str = "") -> list[str]:
        """The keys of ``space`` starting with ``prefix``, sorted."""
        ...


class SharedMemory:
    """Spaces of versioned keys in this process (see the module documentation)."""

    def __init__(self, *, max_keys: int = MAX_KEYS, max_value_bytes: int = MAX_VALUE_BYTES) -> None:
        """An empty memory.

        Args:
            max_keys: Keys over all spaces; a write of a new key past it is refused.
            max_value_bytes: The largest value, as compact JSON.

        """
        self._spaces: dict[str, dict[str, Entry]] = {}
        self._versions: dict[tuple[str, str], int] = {}  # survives deletes: no ABA
        self._lock = threading.Lock()
        self._max_keys = max_keys
        self._max_value_bytes = max_value_bytes
        self._count = 0

    def get(self, space: str, key: str) -> Entry | None:
        """The entry under ``key`` in ``space``, or ``None`` when there is none."""
        check_key(space, key)
        with self._lock:
            return self._spaces.get(space, {}).get(key)

    def version(self, space: str, key: str) -> int:
        """The version of ``key`` (0 when it does not exist)."""
        entry = self.get(space, key)
        return 0 if entry is None else entry.version

    def put(self, space: str, key: str, value: Any, *, expected_version: int | None = None) -> int:
        """Store ``value`` under ``key``; with ``expected_version``, only if it still holds.

        Returns:
            The new version.

        Raises:
            VersionConflictError: ``expected_version`` is not the current version.
            InvalidArgumentError: a bad space or key, or a value that is not JSON or too big.
            ResourceExhaustedError: a new key past ``max_keys``.

        """
        stored = json.loads(checked_value(space, key, value, self._max_value_bytes))  # a copy
        with self._lock:
            entries = self._spaces.setdefault(space, {})
            current = entries.get(key)
            self._expect(space, key, current, expected_version)
            if current is None and self._count >= self._max_keys:
                raise ResourceExhaustedError(f"shared memory holds {self._max_keys} keys already")
            version = self._versions.get((space, key), 0) + 1
            self._versions[(space, key)] = version
            self._count += current is None
            entries[key] = Entry(stored, version)
            return version

    def delete(self, space: str, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key``; with ``expected_version``, only if it still holds.

        Returns:
            Whether there was a key to remove.

        Raises:
            VersionConflictError: ``expected_version`` is not the current version.

        """
        check_key(space, key)
        with self._lock:
            entries = self._spaces.get(space, {})
            current = entries.get(key)
            self._expect(space, key, current, expected_version)
            if current is None:
                return False
            del entries[key]
            self._count -= 1
            return True

    def keys(self, space: str, prefix: str = "") -> list[str]:
        """The keys of ``space`` that start with ``prefix``, sorted."""
        check_name("space", space)
        with self._lock:
            return sorted(key for key in self._spaces.get(space, {}) if key.startswith(prefix))

    @staticmethod
    def _expect(space: str, key: str, current: Entry | None, expected: int | None) -> None:
        have = 0 if current is None else current.version
        if expected is not None and expected != have:
            raise VersionConflictError(space, key, expected, have)


def checked_value(space: str, key: str, value: Any, max_bytes: int) -> str:
    """``value`` as compact JSON after checking the space, key and size.

    Raises:
        InvalidArgumentError: a bad space or key, or a value that is not JSON or too big.

    """
    check_key(space, key)
    text = _json(value)
    if len(text) > max_bytes:
        raise InvalidArgumentError(
            f"value of {space}/{key} is {len(text)} bytes of JSON, over {max_bytes}"
        )
    return text


def check_key(space: str, key: object) -> None:
    """Check a space name and a key (raises :class:`InvalidArgumentError`)."""
    check_name("space", space)
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY:
        raise InvalidArgumentError(f"key {key!r} must be a string of 1-{MAX_KEY} characters")


def _json(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"value is not JSON: {exc}") from None


__all__ = [
    "MAX_VALUE_BYTES",
    "Entry",
    "MemoryStore",
    "SharedMemory",
    "VersionConflictError",
    "check_key",
    "checked_value",
]
