"""Pytest plugin: in CI (``DEVSPARK_REQUIRE_SERVICES=1``) every skip is a failure.

Tests skip with a reason where a sandbox layer, a service (PostgreSQL, Redis), a browser
or an optional package is missing on a developer's machine. CI installs and starts
everything, so a skip there hides a test that never ran: this plugin turns it into a
failure that names the reason. It covers skips at run time (``pytest.skip`` in a test or
a fixture, ``skip``/``skipif`` marks, whatever the test's markers) and at collection time
(a module-level ``pytest.importorskip`` or ``pytest.skip(allow_module_level=True)``).
An expected failure (``xfail``) stays what it is. Loaded by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

REQUIRE_ENV = "DEVSPARK_REQUIRE_SERVICES"
"""The environment variable that CI sets to ``"1"``."""


def required() -> bool:
    """Whether skips are failures in this run (``DEVSPARK_REQUIRE_SERVICES=1``)."""
    return os.environ.get(REQUIRE_ENV) == "1"


def _reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        path, line, why = longrepr
        return f"{why} ({path}:{line})"
    return str(longrepr)


def _fail(report: pytest.TestReport | pytest.CollectReport) -> None:
    report.outcome = "failed"
    report.longrepr = (
        f"skipped in CI ({REQUIRE_ENV}=1), where every test must run: {_reason(report.longrepr)}"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test skipped in setup, call or teardown fails in CI."""
    report = yield
    if required() and report.skipped and not hasattr(report, "wasxfail"):
        _fail(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A module (or folder) skipped while collecting fails in CI."""
    report = yield
    if required() and report.skipped:
        _fail(report)
    return report
