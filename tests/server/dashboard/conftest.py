"""Browser fixtures: a real ``devspark serve`` and Debian's chromium driven by Playwright.

``dashboard_server`` starts ``devspark serve`` on a free port with a fresh data folder
(the first start seeds an admin, a paced connect_four ladder and a sample match per
scenario; the fixture cancels the ladder and waits for the samples to be played, so
their matches do not interleave with the tests' own and their timings).
``browser`` launches ``/usr/bin/chromium`` (installed by ``make test`` through apt; a
browser is never downloaded) and skips when it is missing, which CI
(``DEVSPARK_REQUIRE_SERVICES=1``) turns into a failure (the tests are marked
``integration``, and every skip fails there: see ``tests/ci_skip_guard.py``).

Screenshots go to ``shots``: a folder under pytest's temporary directory, copied to
``$DEVSPARK_TEST_ARTIFACTS`` when that variable names a folder.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SECRET_KEY = "dashboard-test-secret-key-" + "0" * 32
READY_TIMEOUT_S = 60.0

AGENT_CODE = """\
def act(observation, context):
    return context.rng.choice(context.legal_actions)
"""


@dataclass(frozen=True, slots=True)
class Server:
    """A running ``devspark serve``."""

    url: str
    admin_password: str
    data_dir: Path

    def wait_rated(self, agent: str) -> None:
        """Wait until ``agent`` is on the global board (the keeper refits in the background)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            board = httpx.get(f"{self.url}/api/v1/leaderboards/boards", timeout=10).json()
            if any(row["agent"] == agent for row in board["global"]):
                return
            time.sleep(0.2)
        pytest.fail(f"{agent} never reached the boards")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _devspark() -> list[str]:
    # The interpreter running the tests, so the server sees the same packages.
    return [sys.executable, "-c", "from devspark.cli import main; main()"]


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"devspark serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"devspark serve not ready after {READY_TIMEOUT_S} s:\n{log.read_text()}")


def _check_websockets() -> None:
    """Fail with the fix when uvicorn has no WebSocket library (live views need one)."""
    if not any(importlib.util.find_spec(name) for name in ("websockets", "wsproto")):
        pytest.fail(
            "devspark serve cannot accept WebSockets: uvicorn finds no WebSocket library "
            "(add `websockets` or `uvicorn[standard]` to the dependencies)"
        )


def _cancel_running(url: str, password: str) -> None:
    tokens = httpx.post(
        f"{url}/api/v1/auth/login", json={"username": "admin", "password": password}, timeout=10
    ).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    running = httpx.get(f"{url}/api/v1/tournaments?status=running", timeout=10).json()
    for tournament in running["items"]:
        response = httpx.post(
            f"{url}/api/v1/tournaments/{tournament['id']}/cancel", headers=headers, timeout=10
        )
        assert response.status_code == 200, response.text


def _wait_idle(url: str) -> None:
    """Wait until no match of its own is queued or running (the seeded samples are played).

    Matches of the cancelled ladder are left out: one drawn before the cancel stays queued.
    """
    deadline = time.monotonic() + READY_TIMEOUT_S
    busy: list[str] = []
    while time.monotonic() < deadline:
        busy = [
            match["id"]
            for status in ("queued", "running")
            for match in httpx.get(f"{url}/api/v1/matches?status={status}", timeout=10).json()[
                "items"
            ]
            if match["tournament_id"] is None
        ]
        if not busy:
            return
        time.sleep(0.2)
    pytest.fail(f"matches still playing after {READY_TIMEOUT_S} s: {busy}")


def _wait_boards(url: str) -> None:
    """Wait until the board keeper has rated every finished match (pages show the boards).

    Matches of fewer than two distinct agents (a maze, a puzzle) are not rated.
    """
    finished = httpx.get(f"{url}/api/v1/matches?status=finished&limit=200", timeout=10).json()
    ratable = sum(
        len({seat["agent"] for seat in match["results"]}) >= 2 for match in finished["items"]
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    rated = -1
    while time.monotonic() < deadline:
        rated = httpx.get(f"{url}/api/v1/leaderboards/boards", timeout=10).json()["matches"]
        if rated >= ratable:
            return
        time.sleep(0.2)
    pytest.fail(f"the boards rated {rated} of {ratable} finished matches")


@pytest.fixture(scope="module")
def dashboard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``devspark serve`` on a free port, fresh data folder, rate limits off."""
    _check_websockets()
    data_dir = tmp_path_factory.mktemp("dashboard-data")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DEVSPARK_SECRET_KEY": SECRET_KEY,
        "DEVSPARK_RATE_LIMIT": "off",
        "DEVSPARK_RATE_LIMIT_IP": "off",
        "DEVSPARK_WS_CONNECT_LIMIT": "off",  # every page a test opens may open a socket
    }
    env.pop("DEVSPARK_DATABASE_URL", None)
    env.pop("DEVSPARK_DEV", None)
    log = data_dir / "server.log"
    with log.open("wb") as out:
        command = [*_devspark(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_ready(url, process, log)
        found = re.search(r"password '([^']+)'", log.read_text())
        assert found, f"no admin password in the server's output:\n{log.read_text()}"
        _cancel_running(url, found.group(1))
        _wait_idle(url)
        _wait_boards(url)
        yield Server(url=url, admin_password=found.group(1), data_dir=data_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, launched by Playwright (never downloaded)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Any, str], Path]:
    """Save a full-page screenshot as ``<name>.png`` (and into $DEVSPARK_TEST_ARTIFACTS)."""
    folder = tmp_path_factory.mktemp("dashboard-screenshots")
    artifacts = os.environ.get("DEVSPARK_TEST_ARTIFACTS")

    def shot(page: Any, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if artifacts:
            target = Path(artifacts) / "dashboard"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.name)
        return path

    return shot


AGENTS_DIR = Path(__file__).resolve().parents[3] / "src" / "devspark" / "agents"
SLOW_MOVE_S = 0.04
"""How long the slow agent sleeps per move: a 60-round match lasts a few seconds."""


def _pack(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def slow_agent_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tit-for-tat agent renamed ``slow`` that sleeps 40 ms a move, as .tar.gz.

    Its manifest keeps tit-for-tat's ``move_ms`` limit (200 ms), well above the sleep, so
    a match against it is slow enough to be watched live, step by step.
    """
    source = AGENTS_DIR / "tit-for-tat"
    manifest = (source / "agent.toml").read_text()
    limit = re.search(r"^move_ms\s*=\s*(\d+)", manifest, re.MULTILINE)
    assert limit and int(limit.group(1)) > 2 * SLOW_MOVE_S * 1000, manifest
    manifest = re.sub(r'^name = ".*"$', 'name = "slow"', manifest, count=1, flags=re.MULTILINE)
    manifest = re.sub(
        r'^description = ".*"$',
        'description = "Tit for tat, 40 ms a move (a match to watch live)"',
        manifest,
        count=1,
        flags=re.MULTILINE,
    )
    code = (source / "agent.py").read_text()
    code = code.replace(
        "def act(observation, context):\n",
        f"import time\n\n\ndef act(observation, context):\n    time.sleep({SLOW_MOVE_S})\n",
        1,
    )
    assert "time.sleep" in code, "tit-for-tat's act() was not found"
    path = tmp_path_factory.mktemp("slow-agent") / "slow.tar.gz"
    return _pack(path, {"agent.toml": manifest, "agent.py": code})


@pytest.fixture(scope="module")
def agent_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tictactoe agent (random legal moves) packed as .tar.gz, licence MIT."""
    manifest = (
        'name = "dash-bot"\nversion = "1.0.0"\nlanguage = "python"\nentrypoint = "agent.py"\n'
        'description = "Random legal moves, uploaded from the dashboard"\nlicense = "MIT"\n'
        'scenarios = ["tictactoe"]\n'
    )
    path = tmp_path_factory.mktemp("dashboard-agent") / "dash-bot.tar.gz"
    return _pack(path, {"agent.toml": manifest, "agent.py": AGENT_CODE})
