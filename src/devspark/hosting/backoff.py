"""Exponential backoff between the restarts of a service instance that keeps failing."""

from __future__ import annotations

from dataclasses import dataclass

from devspark.core.errors import InvalidArgumentError


@dataclass(slots=True)
class Backoff:
    """Delays that double from ``base_s`` up to ``cap_s``, forgotten after a stable run.

    The first failure waits ``base_s``, the next twice that, and so on up to ``cap_s``.
    An instance that then stays healthy for ``stable_s`` seconds starts again from
    ``base_s`` (:meth:`healthy`): a crash a day is not punished like a crash loop.

    Attributes:
        base_s: The first delay.
        cap_s: The longest delay.
        stable_s: Seconds of health after which the failures are forgotten.
        failures: Failures counted since the last stable run.

    """

    base_s: float = 0.5
    cap_s: float = 30.0
    stable_s: float = 60.0
    failures: int = 0
    _since: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.cap_s:
            raise InvalidArgumentError(
                f"backoff base_s={self.base_s} must be above 0 and at most cap_s={self.cap_s}"
            )

    def failed(self) -> float:
        """Count one failure; the delay before the next try, in seconds."""
        self.failures += 1
        self._since = None
        delay: float = self.base_s * 2.0 ** (self.failures - 1)
        return min(self.cap_s, delay)

    def healthy(self, now: float) -> None:
        """Say the instance is healthy at ``now`` (monotonic seconds).

        The first call after a failure starts the stable run; once ``stable_s`` has
        passed since then the failure count goes back to zero.
        """
        if self.failures == 0:
            return
        if self._since is None:
            self._since = now
        elif now - self._since >= self.stable_s:
            self.failures = 0
            self._since = None


__all__ = ["Backoff"]
