"""Waiting on an event in tests that drive other threads or processes, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None], what: str, timeout: float = 60.0, poll_s: float = 0.02
) -> T:
    """Poll ``check`` until it returns something truthy; that value.

    Raises:
        AssertionError: ``timeout`` seconds passed first (the message names ``what``).

    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll_s)


__all__ = ["wait_until"]
