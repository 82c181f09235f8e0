"""Per-account login throttle: exponential backoff after repeated failed logins.

After :attr:`LoginThrottle.threshold` failed logins for one account (counted whatever
IP they come from) the account is locked for ``base`` seconds, then twice as long after
each further failure, up to ``cap`` seconds. While locked, every login attempt for the
account gets 429 with ``Retry-After``, the correct password included, and is not
checked (so it costs no argon2 work and does not extend the lock). A success resets the
account. Failures are forgotten ``window`` seconds after the first of them, so the
backoff is bounded twice over: no lock is longer than ``cap``, and an account nobody
attacks for ``window`` seconds starts afresh.

The counters live in the rate limiter's ``limits`` storage (process memory, or Redis
when ``DEVSPARK_REDIS_URL`` is set, shared by every server process). When that storage
fails the attempt is let through and the failure logged, like the rate limiter does.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from limits.aio.storage import Storage
from limits.errors import StorageError

from devspark.core.errors import ResourceExhaustedError

logger = logging.getLogger(__name__)

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Failed-login counters and locks per account in a ``limits`` storage.

    Args:
        storage: The ``limits`` async storage (the rate limiter's).
        threshold: Failures before the first lock.
        base: Seconds of the first lock; each further failure doubles it.
        cap: The longest lock, in seconds.
        window: Seconds after the first failure at which the failures are forgotten.
        namespace: Key prefix in the storage.

    """

    def __init__(
        self,
        storage: Storage,
        *,
        threshold: int = 5,
        base: float = 1.0,
        cap: float = 300.0,
        window: float = 900.0,
        namespace: str = "devspark",
    ) -> None:
        self.storage = storage
        self.threshold = threshold
        self.base = base
        self.cap = cap
        self.window = window
        self.namespace = namespace

    def _keys(self, username: str) -> tuple[str, str]:
        digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
        return f"{self.namespace}/login-failures/{digest}", f"{self.namespace}/login-lock/{digest}"

    def delay(self, failures: int) -> float:
        """The lock, in seconds, after ``failures`` failures (0 below the threshold)."""
        if failures < self.threshold:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(failures - self.threshold, 32)))

    async def check(self, username: str) -> None:
        """Refuse a login attempt for a locked account.

        Raises:
            ResourceExhaustedError: The account is locked (``retry_after`` set).
        """
        _, lock = self._keys(username)
        try:
            if await self.storage.get(lock) <= 0:
                return
            retry = await self.storage.get_expiry(lock) - time.time()
        except StorageError as exc:
            logger.warning("login throttle storage failed, attempt let through: %s", exc)
            return
        retry = max(1.0, math.ceil(retry))
        raise ResourceExhaustedError(
            f"too many failed logins for this account; retry in {retry:.0f} s",
            retry_after=retry,
        )

    async def failed(self, username: str) -> float:
        """Count a failed login; lock the account once past the threshold.

        Returns:
            The lock now in force, in seconds (0 when none).
        """
        failures_key, lock = self._keys(username)
        try:
            failures = await self.storage.incr(failures_key, math.ceil(self.window))
            delay = self.delay(failures)
            if delay > 0:
                await self.storage.clear(lock)
                await self.storage.incr(lock, math.ceil(delay))
        except StorageError as exc:
            logger.warning("login throttle storage failed, failure not counted: %s", exc)
            return 0.0
        return delay

    async def succeeded(self, username: str) -> None:
        """Forget the account's failures after a successful login."""
        try:
            for key in self._keys(username):
                await self.storage.clear(key)
        except StorageError as exc:
            logger.warning("login throttle storage failed, failures not reset: %s", exc)
