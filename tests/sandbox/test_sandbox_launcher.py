"""The launcher's Python runner: compiled once per staged SDK by the sandbox interpreter."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devspark.arena.agents import resolve_agent
from devspark.core.lifecycle import LifecycleState
from devspark.sandbox import IsolationLevel, ProcessWorker, launcher
from devspark.sdk import PYTHON_RUNNER


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    launcher.compiled_runner.cache_clear()
    yield
    launcher.compiled_runner.cache_clear()


def sdk_copy(tmp_path: Path, source: str | None = None) -> Path:
    sdk = tmp_path / "sdk"
    sdk.mkdir()
    if source is None:
        shutil.copyfile(PYTHON_RUNNER, sdk / "runner.py")
    else:
        (sdk / "runner.py").write_text(source)
    return sdk


def magic_of_sandbox_python() -> bytes:
    code = "import importlib.util, sys; sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER)"
    return subprocess.run(
        [str(launcher.PYTHON), "-I", "-S", "-c", code], capture_output=True, check=True
    ).stdout


def test_the_runner_is_compiled_by_the_sandbox_interpreter(tmp_path: Path) -> None:
    sdk = sdk_copy(tmp_path)
    name = launcher.compiled_runner(sdk)
    assert name.startswith("runner-") and name.endswith(".pyc")
    assert (sdk / name).read_bytes()[:4] == magic_of_sandbox_python()
    assert sorted(path.name for path in sdk.iterdir()) == sorted(["runner.py", name])  # no scratch
    spec = launcher.ProcessSpec("python", "agent.py", tmp_path, sdk, tmp_path)
    assert spec.interpreter("/agent", "/sdk", None)[4] == f"/sdk/{name}"


def test_a_started_agent_runs_the_compiled_runner() -> None:
    worker = ProcessWorker(resolve_agent("builtin:random"), level=IsolationLevel.PROCESS)
    worker.start()
    try:
        assert worker.lifecycle.state is LifecycleState.ONLINE, worker.lifecycle.history
        assert worker.proc is not None
        cmdline = Path(f"/proc/{worker.proc.pid}/cmdline").read_bytes().split(b"\0")
        assert any(arg.endswith(b".pyc") and b"/runner-" in arg for arg in cmdline), cmdline
    finally:
        worker.close()


def test_a_runner_that_does_not_compile_is_run_from_source(tmp_path: Path) -> None:
    sdk = sdk_copy(tmp_path, "def broken(:\n")
    assert launcher.compiled_runner(sdk) == "runner.py"
    assert [path.name for path in sdk.iterdir()] == ["runner.py"]  # the scratch file is gone


def test_without_the_interpreter_the_source_runner_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launcher, "PYTHON", tmp_path / "no-python3")
    assert launcher.compiled_runner(sdk_copy(tmp_path)) == "runner.py"
