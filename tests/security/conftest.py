"""Fixtures of the hostile-agent tests: the sandbox user, the canary file and variable."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
from collections.abc import Iterator

import pytest
from host_checks import CANARY_CONTENT, CANARY_ENV, exclusive, plant_canary

from devspark.sandbox import IsolationLevel, unavailable_reason
from devspark.sandbox.isolation import SANDBOX_USER
from devspark.testing.hostile import CANARY_DIR, CANARY_FILE


@pytest.fixture(scope="module")
def sandbox_uid() -> int:
    """The uid agents run as: the sandbox user as root (these tests' case), else ours."""
    reason = unavailable_reason(IsolationLevel.SANDBOX, "python")
    if reason is not None:
        pytest.skip(f"sandbox isolation is unavailable here: {reason}")
    return pwd.getpwnam(SANDBOX_USER).pw_uid if os.geteuid() == 0 else os.getuid()


@pytest.fixture(scope="module", autouse=True)
def _remove_canary_at_end() -> Iterator[None]:
    yield
    with exclusive():
        CANARY_FILE.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            CANARY_DIR.rmdir()


@pytest.fixture
def canary() -> Iterator[bytes]:
    """The planted canary, held exclusively for the test (one hostile run at a time)."""
    with exclusive():
        plant_canary()
        yield CANARY_CONTENT


@pytest.fixture
def canary_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A host environment variable that must never reach an agent."""
    value = "canary-" + secrets.token_hex(16)
    monkeypatch.setenv(CANARY_ENV, value)
    return value
