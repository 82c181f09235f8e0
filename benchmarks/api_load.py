"""Reads and writes per second and latency with 50 connections, next to bare FastAPI.

Seeds a SQLite database with a realistic leaderboard first: one round-robin tournament
per multi-player scenario among every built-in agent that plays it, run through the
services (``create_tournament`` / ``run_tournament_durably`` on a ``LocalExecutor``,
sandboxed; trusted Python agents only where the sandbox is unavailable), which leaves
about 20 agents' rating snapshots. Then starts the real server on that database
(``create_app`` under uvicorn, one worker, in a subprocess on a free port, development
mode, rate limits on but set far above the load so the middleware does its counting
without refusing) and, in the same run, a bare FastAPI hello-world app (``async def``
returning a small JSON object) under uvicorn the same way.

Routes driven, each for ``--duration`` seconds after a warm-up:

* ``GET /api/v1/leaderboards``: served from a 1 s time-to-live cache
  (``server/cache.py``), so nearly every request is a cache hit; this is the cache's
  figure, not the database's.
* ``GET /api/v1/matches?scenario=tictactoe&status=finished``: not cached; every request
  runs the filtered query, the count and the results query on the database.
* ``POST /api/v1/matches`` as a registered user (a bearer token from
  ``/api/v1/auth/login``): validates the body, inserts the queued match and its audit
  entry in one transaction. The server runs without a worker (``create_app(...,
  worker=False)``, what ``devspark serve --no-worker`` starts), so created matches stay
  queued, nothing is played and the figure is the API's own.

The load comes from ``wrk`` (``WRK_THREADS`` threads; a Lua script sets the method,
body and headers, and its ``done()`` hook prints the request count and the exact latency
percentiles) when it is installed (``make bench`` installs it), else from
``CONNECTIONS`` ``httpx.AsyncClient`` loops in this process, which bound the figures
well below the server's. The generator used is printed, and is part of the JSON.

The load generator shares the machine with the server, so absolute figures are a
floor; the ratio to the bare app is the figure to watch. Targets (set here): at 50
connections, p99 of every route under 500 ms, and the uncached read and the write at
least 100 requests/s each (the cached read at least 1,000/s).
Prints one JSON object: generator, entries, per route requests_per_s, p50_ms, p99_ms,
the bare app's, the ratios and the judged figures (target, met, ratio).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import NamedTuple

import httpx

from _util import ROOT, Figure, emit, figure, machine, percentile

CONNECTIONS = 50
DURATION_S = 4.0
WARMUP_S = 1.0
WRK_THREADS = 2
CACHED_PATH = "/api/v1/leaderboards"
LIST_PATH = "/api/v1/matches?scenario=tictactoe&status=finished"
WRITE_PATH = "/api/v1/matches"
WRITE_BODY = '{"scenario": "tictactoe", "agents": ["builtin:random", "builtin:random"]}'
HELLO_PATH = "/hello"
SEED_ROUNDS = 1
USERNAME, PASSWORD = "bench-writer", "bench-writer-password"
TARGET_P99_MS = 500.0
TARGET_PER_S = {"cached": 1000.0, "list": 100.0, "write": 100.0}


class Route(NamedTuple):
    """One route under load."""

    key: str
    label: str
    method: str
    path: str
    body: str | None = None
    token: str | None = None


WRK_SCRIPT = textwrap.dedent(
    """
    wrk.method = os.getenv("DEVSPARK_WRK_METHOD")
    local body = os.getenv("DEVSPARK_WRK_BODY")
    if body ~= "" then
      wrk.body = body
      wrk.headers["Content-Type"] = "application/json"
    end
    local token = os.getenv("DEVSPARK_WRK_TOKEN")
    if token ~= "" then
      wrk.headers["Authorization"] = "Bearer " .. token
    end
    done = function(summary, latency, requests)
      local e = summary.errors
      io.write(string.format(
        "DEVSPARK_WRK requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d\\n",
        summary.requests, summary.duration,
        e.connect + e.read + e.write + e.status + e.timeout,
        latency:percentile(50), latency:percentile(99)))
    end
    """
)
_WRK_LINE = re.compile(
    r"DEVSPARK_WRK requests=(\d+) duration_us=(\d+) errors=(\d+) p50_us=(\d+) p99_us=(\d+)"
)

SERVER_CODE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import uvicorn
    from argon2 import PasswordHasher
    from devspark.app import create_app
    from devspark.server.settings import Settings

    settings = Settings.from_env(
        data_dir=Path(sys.argv[1]), dev_mode=True,
        rate_limit="1000000/second", rate_limit_ip="1000000/second", environ={},
    )
    app = create_app(
        settings,
        worker=False,
        hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
    )
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
                access_log=False)
    """
)

HELLO_CODE = textwrap.dedent(
    """
    import sys
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
    """
)


class Load(NamedTuple):
    reads_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(code: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env)


def stop(*processes: subprocess.Popen[bytes]) -> None:
    """Terminate every process; kill those still running after 10 s."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout_s} s")


def seed(database_url: str) -> None:
    """Migrate the database and play one round robin per multi-player scenario into it.

    Entrants are the built-ins that play the scenario, sandboxed; where the sandbox is
    unavailable, trusted (Python agents only), as printed.
    """
    from devspark.arena.agents import BUILTIN_PREFIX, builtin_names, resolve_agent
    from devspark.arena.executors import LocalExecutor
    from devspark.sandbox import IsolationLevel, unavailable_reason
    from devspark.scenarios import list_scenarios
    from devspark.services.audit import SYSTEM
    from devspark.services.durable import run_tournament_durably
    from devspark.services.tournaments import TournamentParams, create_tournament
    from devspark.store.db import make_engine, session_factory, upgrade
    from devspark.store.models import UserRow

    isolation = IsolationLevel.SANDBOX
    if reason := unavailable_reason(isolation):
        print(f"seeding: sandbox unavailable ({reason}); trusted isolation, Python agents only")
        isolation = IsolationLevel.TRUSTED
    agents = [resolve_agent(BUILTIN_PREFIX + name) for name in builtin_names()]
    agents = [a for a in agents if unavailable_reason(isolation, a.manifest.language) is None]
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        factory = session_factory(engine)
        with factory() as session:
            owner = UserRow(username="bench-owner", role="admin")
            session.add(owner)
            session.commit()
        with LocalExecutor() as executor:
            for info in list_scenarios():
                if info.players[1] < 2:
                    continue  # single-player scenarios: no pairings to rate
                entrants = [a.ref for a in agents if {info.id, "*"} & set(a.manifest.scenarios)]
                params = TournamentParams(
                    agents=(), rounds=SEED_ROUNDS, isolation=isolation, seats=info.players[0]
                )
                with factory() as session:
                    tournament = create_tournament(
                        session,
                        owner_id=owner.id,
                        scenario=info.full_id,
                        format="round_robin",
                        agents=entrants,
                        params=params,
                        seed=1,
                        audit=SYSTEM,
                    ).id
                run_tournament_durably(factory, tournament, executor)
    finally:
        engine.dispose()


def headers(route: Route) -> dict[str, str]:
    out = {"Content-Type": "application/json"} if route.body else {}
    if route.token:
        out["Authorization"] = f"Bearer {route.token}"
    return out


async def drive(
    base: str, route: Route, *, clients: int, duration_s: float, warmup_s: float
) -> Load:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    url = base + route.path
    async with httpx.AsyncClient(limits=limits, timeout=10.0, headers=headers(route)) as client:
        start = time.perf_counter()
        measure_from = start + warmup_s
        stop = measure_from + duration_s

        async def loop() -> None:
            nonlocal errors
            while (now := time.perf_counter()) < stop:
                response = await client.request(route.method, url, content=route.body)
                done = time.perf_counter()
                if done >= measure_from and now >= measure_from:
                    if response.is_success:
                        latencies.append(done - now)
                    else:
                        errors += 1

        await asyncio.gather(*(loop() for _ in range(clients)))
    ms = [s * 1000 for s in latencies]
    return Load(len(latencies) / duration_s, percentile(ms, 50), percentile(ms, 99), errors)


def measure_httpx(base: str, route: Route, duration_s: float) -> Load:
    return asyncio.run(
        drive(base, route, clients=CONNECTIONS, duration_s=duration_s, warmup_s=WARMUP_S)
    )


def run_wrk(wrk: str, base: str, route: Route, script: Path, duration_s: float) -> Load:
    command = [
        wrk,
        f"--threads={WRK_THREADS}",
        f"--connections={CONNECTIONS}",
        f"--duration={duration_s:g}s",
        "--timeout=10s",
        f"--script={script}",
        base + route.path,
    ]
    env = {
        **os.environ,
        "DEVSPARK_WRK_METHOD": route.method,
        "DEVSPARK_WRK_BODY": route.body or "",
        "DEVSPARK_WRK_TOKEN": route.token or "",
    }
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    match = _WRK_LINE.search(done.stdout)
    if match is None:
        raise RuntimeError(f"no figures in wrk's output:\n{done.stdout}{done.stderr}")
    requests, duration_us, errors, p50_us, p99_us = map(int, match.groups())
    return Load(requests / (duration_us / 1e6), p50_us / 1000, p99_us / 1000, errors)


def measure_wrk(wrk: str, base: str, route: Route, script: Path, duration_s: float) -> Load:
    run_wrk(wrk, base, route, script, WARMUP_S)
    return run_wrk(wrk, base, route, script, duration_s)


def login(base: str) -> str:
    """Register the writing user and return an access token."""
    account = {"username": USERNAME, "password": PASSWORD}
    httpx.post(f"{base}/api/v1/auth/register", json=account, timeout=30.0).raise_for_status()
    response = httpx.post(f"{base}/api/v1/auth/login", json=account, timeout=30.0)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def leaderboard_entries(url: str) -> int:
    response = httpx.get(url, timeout=10.0)
    response.raise_for_status()
    total: int = response.json()["total"]
    return total


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=DURATION_S, help="seconds per route (default 4)"
    )
    return parser.parse_args()


def measure(base: str, hello: str, token: str, duration_s: float, script: Path) -> dict[str, Load]:
    """Drive the bare app, then each route of the server, one after another."""
    routes = [
        Route("hello", "GET /hello (bare FastAPI)", "GET", HELLO_PATH),
        Route("cached", f"GET {CACHED_PATH} (1 s cache)", "GET", CACHED_PATH),
        Route("list", f"GET {LIST_PATH} (uncached)", "GET", LIST_PATH),
        Route(
            "write",
            f"POST {WRITE_PATH} (authenticated write)",
            "POST",
            WRITE_PATH,
            WRITE_BODY,
            token,
        ),
    ]
    wrk = shutil.which("wrk")
    loads: dict[str, Load] = {}
    for route in routes:
        root = hello if route.key == "hello" else base
        if wrk:
            loads[route.key] = measure_wrk(wrk, root, route, script, duration_s)
        else:
            loads[route.key] = measure_httpx(root, route, duration_s)
        load = loads[route.key]
        print(
            f"{route.label:62s} {load.reads_per_s:8.0f} req/s  p50 {load.p50_ms:6.1f} ms"
            f"  p99 {load.p99_ms:6.1f} ms  errors {load.errors}"
        )
    return loads


def judge(loads: dict[str, Load]) -> list[Figure]:
    """Each server route's rate and p99 against its target and the bare app."""
    bare = loads["hello"]
    names = {"cached": "cached read", "list": "uncached filtered read", "write": "write"}
    judged = []
    for key, name in names.items():
        load = loads[key]
        judged.append(
            figure(
                f"{name} throughput",
                load.reads_per_s,
                "req/s",
                target=TARGET_PER_S[key],
                better="higher",
                target_source="set here",
                baseline=bare.reads_per_s,
                baseline_name="bare FastAPI hello",
            )
        )
        judged.append(
            figure(
                f"{name} p99",
                load.p99_ms,
                "ms",
                target=TARGET_P99_MS,
                better="lower",
                target_source="set here",
                baseline=bare.p99_ms,
                baseline_name="bare FastAPI hello",
            )
        )
    return judged


def main() -> None:
    from devspark.server.settings import Settings

    duration_s = parse_args().duration
    # SIGTERM (a timeout) unwinds like Ctrl-C, so the servers started below are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = machine()
    generator = "wrk" if shutil.which("wrk") else "httpx"
    with tempfile.TemporaryDirectory(prefix="devspark-api-load-") as tmp:
        data_dir = Path(tmp) / "data"
        database_url = Settings.from_env(data_dir=data_dir, environ={}).database_url
        started = time.perf_counter()
        seed(database_url)
        seeded_s = time.perf_counter() - started
        script = Path(tmp) / "percentiles.lua"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        api_port, hello_port = free_port(), free_port()
        api = start(SERVER_CODE, str(data_dir), str(api_port))
        hello = start(HELLO_CODE, str(hello_port))
        try:
            api_base = f"http://127.0.0.1:{api_port}"
            hello_base = f"http://127.0.0.1:{hello_port}"
            wait_ready(f"{api_base}/healthz", api)
            wait_ready(f"{hello_base}{HELLO_PATH}", hello)
            entries = leaderboard_entries(f"{api_base}{CACHED_PATH}")
            token = login(api_base)
            if generator == "wrk":
                print(f"load generator: wrk ({WRK_THREADS} threads, {CONNECTIONS} connections)")
            else:
                print(
                    f"load generator: httpx ({CONNECTIONS} AsyncClient loops in this process; "
                    "wrk is not installed, so these figures are bounded by the generator)"
                )
            print(f"seeded {entries} leaderboard entries in {seeded_s:.1f} s", flush=True)
            print(
                f"{CACHED_PATH} is served from a 1 s cache: nearly every request is a hit; "
                f"{LIST_PATH} is not cached; the server runs without a worker (--no-worker), "
                "so created matches stay queued"
            )
            loads = measure(api_base, hello_base, token, duration_s, script)
        finally:
            stop(api, hello)
    errors = {key: value.errors for key, value in loads.items()}
    assert not any(errors.values()), errors
    judged = judge(loads)
    bare = loads["hello"]
    emit(
        {
            **load,
            "generator": generator,
            "entries": entries,
            "duration_s": duration_s,
            "connections": CONNECTIONS,
            **{
                key: {
                    "requests_per_s": value.reads_per_s,
                    "p50_ms": value.p50_ms,
                    "p99_ms": value.p99_ms,
                    "ratio": value.reads_per_s / bare.reads_per_s,
                }
                for key, value in loads.items()
            },
        },
        judged,
    )


if __name__ == "__main__":
    main()
