"""Verifying a replay downloaded from a server: uploaded agents fetched or mapped to folders."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from typer.testing import CliRunner

from devspark.app import create_app
from devspark.arena.agents import BUILTIN_DIR
from devspark.arena.replay import load_replay
from devspark.cli.app import app as cli
from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.server.settings import Settings
from devspark.services.replay_sources import parse_agent_map, verify_with_sources
from devspark.store.db import DATABASE_URL_ENV
from devspark.testing.archives import pack_agent

pytestmark = pytest.mark.integration

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
REF = "agent:ada/randy@1.0.0"
SECRET_KEY = "replay-sources-test-secret-" + "0" * 32


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real HTTP server (uvicorn in a thread) on a free port, SQLite in a fresh folder."""
    data = tmp_path_factory.mktemp("server")
    environ = {DATABASE_URL_ENV: f"sqlite:///{data / 'devspark.db'}", "DEVSPARK_RATE_LIMIT": "off"}
    settings = Settings.from_env(data_dir=data, environ=environ)
    with pytest.MonkeyPatch.context() as patch:  # module scope: the autouse key comes later
        patch.setenv("DEVSPARK_SECRET_KEY", SECRET_KEY)
        application = create_app(settings, hasher=CHEAP)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def replay_file(server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sandboxed match of an uploaded agent, its replay saved as downloaded."""
    with httpx.Client(base_url=server, timeout=30) as http:
        http.post("/api/v1/auth/register", json={"username": "ada", "password": PASSWORD})
        tokens = http.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
        ada = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        archive = pack_agent(BUILTIN_DIR / "random", name="randy")
        files = {"file": ("randy.tar.gz", archive, "application/gzip")}
        published = http.post("/api/v1/agents", files=files, headers=ada).json()
        http.post(f"/api/v1/agents/{published['agent_id']}/start", headers=ada)
        body = {"scenario": "tictactoe", "agents": ["agent:ada/randy", "builtin:random"]}
        created = http.post("/api/v1/matches", json={**body, "seed": 3}, headers=ada)
        assert created.status_code == 201, created.text
        url = f"/api/v1/matches/{created.json()['id']}"
        deadline = time.monotonic() + 60
        while (status := http.get(url).json()["status"]) != "finished":
            assert status in ("queued", "running") and time.monotonic() < deadline, status
            time.sleep(0.05)
        path = tmp_path_factory.mktemp("replays") / "match.json"
        path.write_bytes(http.get(f"{url}/replay", headers={"Accept-Encoding": "identity"}).content)
    return path


def test_an_uploaded_agent_without_a_source_names_both_fixes(replay_file: Path) -> None:
    replay = load_replay(replay_file)
    assert [a["ref"] for a in replay.data["agents"]] == [REF, "builtin:random"]
    with pytest.raises(InvalidArgumentError, match=r"give --server URL .* or --agent agent:ada"):
        verify_with_sources(replay)


def test_verify_fetches_the_recorded_version_from_the_server(
    server: str, replay_file: Path, tmp_path: Path
) -> None:
    replay = load_replay(replay_file)
    assert verify_with_sources(replay, server=server, cache=tmp_path) == []
    recorded = replay.data["agents"][0]["sha256"]
    assert (tmp_path / recorded / "agent.toml").is_file()  # cached by content hash

    result = CliRunner().invoke(
        cli, ["replay", "verify", str(replay_file), "--server", server, "--cache", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "reproduced exactly" in result.output


def test_verify_with_a_local_folder_for_the_reference(
    server: str, replay_file: Path, tmp_path: Path
) -> None:
    replay = load_replay(replay_file)
    verify_with_sources(replay, server=server, cache=tmp_path)  # fills the cache
    folder = tmp_path / replay.data["agents"][0]["sha256"]
    result = CliRunner().invoke(
        cli, ["replay", "verify", str(replay_file), "--agent", f"{REF}={folder}"]
    )
    assert result.exit_code == 0, result.output

    other = CliRunner().invoke(
        cli, ["replay", "verify", str(replay_file), "--agent", f"{REF}={BUILTIN_DIR / 'minimax'}"]
    )
    assert other.exit_code == 1  # another agent in that seat: the re-run differs
    assert "changed since recording" in other.output


def test_an_unknown_agent_on_the_server_is_not_found(
    server: str, replay_file: Path, tmp_path: Path
) -> None:
    replay = load_replay(replay_file)
    replay.data["agents"][0]["ref"] = "agent:ada/randi@1.0.0"
    with pytest.raises(NotFoundError, match="no agent 'agent:ada/randi'"):
        verify_with_sources(replay, server=server, cache=tmp_path)


def test_agent_map_pairs_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="is not REF=FOLDER"):
        parse_agent_map(["agent:ada/randy"])
    with pytest.raises(InvalidArgumentError, match=r"has no agent\.toml"):
        parse_agent_map([f"{REF}={tmp_path}"])
    assert parse_agent_map([f"{REF}={BUILTIN_DIR / 'random'}"]) == {
        REF: str((BUILTIN_DIR / "random").resolve())
    }
