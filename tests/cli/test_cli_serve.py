"""``devspark serve``: options reach uvicorn, and a real server process answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from devspark.cli.app import app

DEVSPARK = Path(sys.executable).parent / "devspark"
runner = CliRunner()


def test_serve_prints_the_url_and_runs_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda target, **kw: calls.append((target, kw)))
    monkeypatch.delenv("DEVSPARK_DATABASE_URL", raising=False)
    result = runner.invoke(
        app, ["serve", "--host", "127.0.0.2", "--port", "8123", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.2:8123" in result.output
    (target, kwargs) = calls[0]
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.2", 8123)
    settings = target.state.settings
    assert settings.data_dir == tmp_path.resolve()
    assert settings.database_url.endswith(str(tmp_path.resolve() / "devspark.db"))


def test_serve_rejects_a_bad_port() -> None:
    result = runner.invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.integration
def test_serve_starts_a_real_server(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DEVSPARK_DATABASE_URL"}
    process = subprocess.Popen(
        [str(DEVSPARK), "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert status == 200, f"server did not answer (exit code {process.poll()})"
        assert (tmp_path / "data" / "devspark.db").exists()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in output
