"""check_service: the service conformance kit, on built-ins and hostile services."""

from __future__ import annotations

import pytest

from devspark.arena.agents import BUILTIN_DIR
from devspark.sandbox import IsolationLevel
from devspark.testing.check_service import check_service
from devspark.testing.hostile import SERVICE_DIR

pytestmark = pytest.mark.integration


def names(report: object) -> list[str]:
    return [item.name for item in report.checks]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["echo", "echo-js"])
def test_echo_services_pass_in_the_sandbox(name: str) -> None:
    report = check_service(BUILTIN_DIR / name)
    assert report.ok, report.checks
    assert names(report) == ["manifest", "start", "serves echo", "serves echo.slow", "clean stop"]


def test_an_error_answer_passes_and_trusted_works() -> None:
    report = check_service(BUILTIN_DIR / "connect-four-alphabeta", isolation=IsolationLevel.TRUSTED)
    assert report.ok, report.checks
    serves = report.checks[2]
    assert serves.name == "serves connect_four.best_move"
    assert serves.detail.startswith("answered with an error: ValueError: payload must be")


def test_a_silent_service_fails_its_task_and_stops_clean() -> None:
    report = check_service(SERVICE_DIR / "silent-task")
    assert names(report) == ["manifest", "start", "serves hostile", "clean stop"]
    assert [item.ok for item in report.checks] == [True, True, False, True]
    assert report.checks[2].detail.startswith("timeout: ")


def test_an_agent_without_service_fails_the_manifest_check() -> None:
    report = check_service(BUILTIN_DIR / "random")
    assert names(report) == ["manifest"]
    assert not report.ok
    assert "has no [service] table" in report.checks[0].detail
