"""Shared fixtures: tiny agent folders written into ``tmp_path``."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

MakeAgent = Callable[..., Path]


@pytest.fixture
def make_agent(tmp_path: Path) -> MakeAgent:
    """Write an agent folder (``agent.toml`` plus its entrypoint) and return its path."""

    def make(
        code: str,
        *,
        name: str = "test-agent",
        language: str = "python",
        scenarios: tuple[str, ...] = ("tictactoe",),
        limits: dict[str, int] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        entrypoint = "agent.py" if language == "python" else "agent.mjs"
        folder = tmp_path / name
        folder.mkdir()
        fields = {
            "name": name,
            "version": "0.1.0",
            "language": language,
            "entrypoint": entrypoint,
            "license": "MIT",
            "scenarios": list(scenarios),
            **(extra or {}),
        }
        lines = [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
        if limits:
            lines.append("[limits]")
            lines += [f"{key} = {value}" for key, value in limits.items()]
        (folder / "agent.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / entrypoint).write_text(textwrap.dedent(code), encoding="utf-8")
        return folder

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI (DEVSPARK_REQUIRE_SERVICES=1) a skipped integration or security test fails.

    Those tests skip with a reason where a sandbox layer or a service is missing on a
    developer's machine; CI installs and starts everything, so a skip there is a bug.
    """
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    required = os.environ.get("DEVSPARK_REQUIRE_SERVICES") == "1"
    marked = item.get_closest_marker("integration") or item.get_closest_marker("security")
    if required and marked and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where it must run: {report.longrepr}"


@pytest.fixture(autouse=True)
def _unmount_state_quotas(tmp_path: Path) -> Iterator[None]:
    """Unmount state-folder tmpfs quotas that a test created under its own ``tmp_path``."""
    yield
    root = str(tmp_path)
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts if line.startswith("devspark-state ")]
    for point in sorted(points, reverse=True):
        if point.startswith(root):
            subprocess.run(["umount", point], check=False, capture_output=True)
