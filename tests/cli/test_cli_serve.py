"""``devspark serve``: options reach uvicorn, and a real server process answers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner
from websockets.sync.client import connect as ws_connect

from devspark.cli.app import app

DEVSPARK = Path(sys.executable).parent / "devspark"
runner = CliRunner()


def test_serve_prints_the_url_and_runs_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[uvicorn.Config, list[Any]]] = []

    def run(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        calls.append((server.config, [s.getsockname() for s in sockets]))

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.delenv("DEVSPARK_DATABASE_URL", raising=False)
    port = _free_port()
    result = runner.invoke(
        app, ["serve", "--host", "127.0.0.2", "--port", str(port), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert f"http://127.0.0.2:{port}" in result.output
    (config, sockets) = calls[0]
    assert (config.host, config.port) == ("127.0.0.2", port)
    assert sockets == [("127.0.0.2", port)]  # bound before the app was built
    settings = config.app.state.settings  # type: ignore[attr-defined]
    assert settings.data_dir == tmp_path.resolve()
    assert settings.database_url.endswith(str(tmp_path.resolve() / "devspark.db"))


def test_serve_rejects_a_bad_port() -> None:
    result = runner.invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2


def test_serve_on_a_busy_port_fails_before_seeding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVSPARK_DATABASE_URL", raising=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(
            app, ["serve", "--port", str(port), "--data-dir", str(tmp_path / "data")]
        )
    assert result.exit_code == 1, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Address already in use" in result.output
    assert "Admin login" not in result.output and "password" not in result.output
    assert not (tmp_path / "data" / "devspark.db").exists()  # not migrated, not seeded


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
        # Credentials in query strings are logged redacted (HTTP and WebSocket lines).
        httpx.get(f"http://127.0.0.1:{port}/healthz?token=http-secret-1&x=1", timeout=5)
        with ws_connect(f"ws://127.0.0.1:{port}/api/v1/ws?token=ws-secret-2") as ws:
            assert json.loads(ws.recv(timeout=10))["code"] == "unauthenticated"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in output
    assert "http-secret-1" not in output and "ws-secret-2" not in output
    assert '"GET /healthz?token=REDACTED&x=1 HTTP/1.1" 200' in output
    assert '"WebSocket /api/v1/ws?token=REDACTED" [accepted]' in output
