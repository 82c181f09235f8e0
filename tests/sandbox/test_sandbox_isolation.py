"""Isolation levels: parsing, availability checks and ``open_worker``'s refusal to downgrade."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devspark.arena.agents import resolve_agent
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.sandbox import IsolationLevel, ProcessWorker, TrustedWorker, isolation, open_worker


@pytest.mark.parametrize("name", ["trusted", "process", "sandbox", "gvisor"])
def test_parse_valid_names(name: str) -> None:
    assert IsolationLevel.parse(name).value == name


def test_parse_bad_name_lists_the_valid_ones() -> None:
    expected = "isolation 'docker-ish' is not one of: trusted, process, sandbox, gvisor"
    with pytest.raises(InvalidArgumentError, match=re.escape(expected)):
        IsolationLevel.parse("docker-ish")


def test_trusted_runs_python_only() -> None:
    assert isolation.unavailable_reason(IsolationLevel.TRUSTED, "python") is None
    assert isolation.unavailable_reason(IsolationLevel.TRUSTED, "javascript") == (
        "trusted isolation runs Python agents only"
    )


def test_process_and_sandbox_are_available_here() -> None:
    assert isolation.unavailable_reason(IsolationLevel.PROCESS, "python") is None
    assert isolation.unavailable_reason(IsolationLevel.SANDBOX, "python") is None
    assert isolation.unavailable_reason(IsolationLevel.SANDBOX, "javascript") is None


def test_missing_interpreter_is_a_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(isolation, "NODE", tmp_path / "node")
    reason = isolation.unavailable_reason(IsolationLevel.PROCESS, "javascript")
    assert reason == f"{tmp_path / 'node'} is not installed"


def test_missing_bubblewrap_is_a_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = isolation.unavailable_reason(IsolationLevel.SANDBOX, "python")
    assert reason is not None
    assert "bubblewrap is not installed" in reason
    assert isolation.unavailable_reason(IsolationLevel.PROCESS, "python") is None


def test_missing_sandbox_user_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "SANDBOX_USER", "no-such-devspark-user")
    isolation.sandbox_user.cache_clear()
    try:
        reason = isolation.unavailable_reason(IsolationLevel.SANDBOX, "python")
    finally:
        isolation.sandbox_user.cache_clear()
    assert reason is not None
    assert "sandbox user 'no-such-devspark-user' does not exist" in reason


def test_sandbox_user_is_unprivileged() -> None:
    user = isolation.sandbox_user()
    assert user is not None  # these tests run as root
    assert user.uid != 0
    assert user.gid != 0


def test_open_worker_picks_the_worker_class() -> None:
    package = resolve_agent("builtin:random")
    trusted = open_worker(package, IsolationLevel.TRUSTED)
    process = open_worker(package, IsolationLevel.PROCESS)
    try:
        assert isinstance(trusted, TrustedWorker)
        assert isinstance(process, ProcessWorker)
        assert process.level is IsolationLevel.PROCESS
    finally:
        trusted.close()
        process.close()


def test_open_worker_trusted_javascript_is_refused() -> None:
    package = resolve_agent("builtin:random-js")
    with pytest.raises(
        FailedPreconditionError,
        match=re.escape("isolation level 'trusted' is unavailable: trusted isolation runs Python"),
    ):
        open_worker(package, IsolationLevel.TRUSTED)


def test_open_worker_never_downgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(level: IsolationLevel, language: str = "python") -> str | None:
        return "no sandbox for you" if level is IsolationLevel.SANDBOX else None

    monkeypatch.setattr(isolation, "unavailable_reason", unavailable)
    package = resolve_agent("builtin:random")
    with pytest.raises(
        FailedPreconditionError,
        match=re.escape("isolation level 'sandbox' is unavailable: no sandbox for you"),
    ):
        open_worker(package, IsolationLevel.SANDBOX)
