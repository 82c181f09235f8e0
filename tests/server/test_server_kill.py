"""The real server, SIGKILLed mid-tournament and started again, loses and repeats nothing.

``devspark serve`` runs as a subprocess on SQLite and on PostgreSQL. A tournament of an
uploaded agent that thinks for a while per move is created and started through the
API; once a few matches have finished the server is killed with SIGKILL, then started
again on the same database. The restarted server must finish the tournament: every
pairing played exactly once to the end, results of the matches finished before the
kill untouched, standings published.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from devspark.arena.agents import BUILTIN_DIR
from devspark.services.accounts import register
from devspark.store.db import make_engine, session_factory, upgrade
from devspark.store.models import MatchResultRow, MatchRow
from devspark.testing.archives import pack_agent

PASSWORD = "correct horse battery"
SLOW_MOVE = "import time\n\n\ndef act(observation, context):\n    time.sleep(0.03)\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``devspark serve`` in a subprocess on a given database."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DEVSPARK_DATABASE_URL": database_url,
            "DEVSPARK_RATE_LIMIT": "off",
            "DEVSPARK_RATE_LIMIT_IP": "off",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        devspark = str(Path(sys.executable).with_name("devspark"))
        command = [devspark, "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--data-dir", str(self.data_dir)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited during start"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the server did not become ready in 60 s")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)  # the server and its agent sandboxes
        assert self.process.wait(10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
def database_url(server_environ: dict[str, str]) -> str:
    """The database under test, with one account so ``serve`` seeds nothing else."""
    url = server_environ["DEVSPARK_DATABASE_URL"]
    engine = make_engine(url)
    try:
        upgrade(engine)
        with session_factory(engine)() as session:
            register(session, "ada", PASSWORD)
            session.commit()
    finally:
        engine.dispose()
    return url


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    running = Server(tmp_path / "data", database_url)
    yield running
    running.stop()


def slow_agent(tmp_path: Path) -> bytes:
    folder = tmp_path / "slowpoke"
    folder.mkdir()
    manifest = (BUILTIN_DIR / "random" / "agent.toml").read_text()
    (folder / "agent.toml").write_text(manifest.replace('name = "random"', 'name = "slowpoke"'))
    code = (BUILTIN_DIR / "random" / "agent.py").read_text()
    (folder / "agent.py").write_text(code.replace("def act(observation, context):\n", SLOW_MOVE, 1))
    return pack_agent(folder)


def counts(client: httpx.Client, tournament: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/api/v1/tournaments/{tournament}").json()
    return body


@pytest.mark.integration
def test_sigkill_mid_tournament_then_restart_finishes_it(
    server: Server, tmp_path: Path, database_url: str
) -> None:
    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        tokens = client.post(
            "/api/v1/auth/login", json={"username": "ada", "password": PASSWORD}
        ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        files = {"file": ("slowpoke.tar.gz", slow_agent(tmp_path), "application/gzip")}
        agent = client.post("/api/v1/agents", files=files, headers=auth).json()
        client.post(f"/api/v1/agents/{agent['agent_id']}/start", headers=auth)
        created = client.post(
            "/api/v1/tournaments",
            headers=auth,
            json={
                "scenario": "tictactoe",
                "format": "round_robin",
                "agents": ["agent:ada/slowpoke", "builtin:random", "builtin:minimax"],
                "rounds": 2,
                "seed": 5,
            },
        )
        assert created.status_code == 201, created.text
        tournament = created.json()["id"]
        client.post(f"/api/v1/tournaments/{tournament}/start", headers=auth)
        deadline = time.monotonic() + 60
        while counts(client, tournament)["matches"]["finished"] < 3:
            assert time.monotonic() < deadline, counts(client, tournament)
            time.sleep(0.05)
    server.kill()

    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            before = {
                row.id: (row.finished_at, row.replay_ref)
                for row in session.scalars(select(MatchRow).where(MatchRow.status == "finished"))
            }
        assert 3 <= len(before) < 12, "the kill did not land mid-tournament"

        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            deadline = time.monotonic() + 120
            while (status := counts(client, tournament))["status"] != "finished":
                assert time.monotonic() < deadline, status
                time.sleep(0.1)
            assert status["matches"] == {
                "queued": 0,
                "running": 0,
                "finished": 12,
                "failed": 0,
                "cancelled": 0,
                "total": 12,
                "planned": 12,
            }
            standings = client.get(f"/api/v1/tournaments/{tournament}/standings").json()
            assert {line["agent"] for line in standings["items"]} == {
                "agent:ada/slowpoke@1.0.0",
                "builtin:random",
                "builtin:minimax",
            }

        with session_factory(engine)() as session:
            rows = list(session.scalars(select(MatchRow)))
            pairings = Counter(
                (row.options["pairing"]["round"], tuple(row.options["pairing"]["agents"]), row.seed)
                for row in rows
            )
            assert len(rows) == 12 and set(pairings.values()) == {1}  # none played twice
            seats = Counter(session.scalars(select(MatchResultRow.match_id)))
            assert set(seats.values()) == {2} and len(seats) == 12  # one result per seat
            after = {row.id: (row.finished_at, row.replay_ref) for row in rows}
            for match_id, finished in before.items():  # finished ones were not touched
                assert after[match_id] == finished
            assert all(replay for _, replay in after.values())
    finally:
        engine.dispose()
