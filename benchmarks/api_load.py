"""Leaderboard reads per second and p99 latency with 50 connections, next to bare FastAPI.

Seeds a SQLite database with a realistic leaderboard first: one round-robin tournament
per multi-player scenario among every built-in agent that plays it, run through the
services (``create_tournament`` / ``run_tournament_durably`` on a ``LocalExecutor``,
sandboxed; trusted Python agents only where the sandbox is unavailable), which leaves
about 20 agents' rating snapshots. Then starts the real server on that database
(``create_app`` under uvicorn, one worker, in a subprocess on a free port, development
mode, rate limits on but set far above the load so the middleware does its counting
without refusing) and, in the same run, a bare FastAPI hello-world app (``async def``
returning a small JSON object) under uvicorn the same way.

Each is driven with ``CONNECTIONS`` concurrent keep-alive connections for ``DURATION_S``
seconds after a ``WARMUP_S`` warm-up: by ``wrk`` (``WRK_THREADS`` threads; a Lua
``done()`` hook prints the request count and the exact latency percentiles) when it is
installed (``make bench`` installs it), else by ``CONNECTIONS`` ``httpx.AsyncClient``
loops in this process, which bound the figures well below the server's. The generator
used is printed, and is part of the JSON.

The load generator shares the machine with the server, so absolute figures are a
floor; the ratio to the bare app is the figure to watch.
Prints one JSON object: generator, entries, reads_per_s, p50_ms, p99_ms,
hello_reads_per_s, hello_p50_ms, hello_p99_ms, ratio (reads_per_s / hello_reads_per_s).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import NamedTuple

import httpx

from _util import ROOT, emit, percentile

CONNECTIONS = 50
DURATION_S = 10.0
WARMUP_S = 2.0
WRK_THREADS = 2
READ_PATH = "/api/v1/leaderboards"
HELLO_PATH = "/hello"
SEED_ROUNDS = 1

WRK_SCRIPT = textwrap.dedent(
    """
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
    from devspark.server.app import create_app
    from devspark.server.settings import Settings

    settings = Settings.from_env(
        data_dir=Path(sys.argv[1]), dev_mode=True,
        rate_limit="1000000/second", rate_limit_ip="1000000/second", environ={},
    )
    app = create_app(settings, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
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
    from devspark.services.durable import (
        TournamentParams,
        create_tournament,
        run_tournament_durably,
    )
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
                    ).id
                run_tournament_durably(factory, tournament, executor)
    finally:
        engine.dispose()


async def drive(url: str, *, clients: int, duration_s: float, warmup_s: float) -> Load:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
        start = time.perf_counter()
        measure_from = start + warmup_s
        stop = measure_from + duration_s

        async def loop() -> None:
            nonlocal errors
            while (now := time.perf_counter()) < stop:
                response = await client.get(url)
                done = time.perf_counter()
                if done >= measure_from and now >= measure_from:
                    if response.status_code == 200:
                        latencies.append(done - now)
                    else:
                        errors += 1

        await asyncio.gather(*(loop() for _ in range(clients)))
    ms = [s * 1000 for s in latencies]
    return Load(len(latencies) / duration_s, percentile(ms, 50), percentile(ms, 99), errors)


def measure_httpx(url: str) -> Load:
    return asyncio.run(drive(url, clients=CONNECTIONS, duration_s=DURATION_S, warmup_s=WARMUP_S))


def run_wrk(wrk: str, url: str, script: Path, duration_s: float) -> Load:
    command = [
        wrk,
        f"--threads={WRK_THREADS}",
        f"--connections={CONNECTIONS}",
        f"--duration={duration_s:g}s",
        "--timeout=10s",
        f"--script={script}",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    match = _WRK_LINE.search(done.stdout)
    if match is None:
        raise RuntimeError(f"no figures in wrk's output:\n{done.stdout}{done.stderr}")
    requests, duration_us, errors, p50_us, p99_us = map(int, match.groups())
    return Load(requests / (duration_us / 1e6), p50_us / 1000, p99_us / 1000, errors)


def measure_wrk(wrk: str, url: str, script: Path) -> Load:
    run_wrk(wrk, url, script, WARMUP_S)
    return run_wrk(wrk, url, script, DURATION_S)


def leaderboard_entries(url: str) -> int:
    response = httpx.get(url, timeout=10.0)
    response.raise_for_status()
    total: int = response.json()["total"]
    return total


def main() -> None:
    from devspark.server.settings import Settings

    wrk = shutil.which("wrk")
    generator = "wrk" if wrk else "httpx"
    with tempfile.TemporaryDirectory(prefix="devspark-api-load-") as tmp:
        data_dir = Path(tmp) / "data"
        started = time.perf_counter()
        seed(Settings.from_env(data_dir=data_dir, environ={}).database_url)
        seeded_s = time.perf_counter() - started
        script = Path(tmp) / "percentiles.lua"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        api_port, hello_port = free_port(), free_port()
        api = start(SERVER_CODE, str(data_dir), str(api_port))
        hello = start(HELLO_CODE, str(hello_port))
        try:
            api_base = f"http://127.0.0.1:{api_port}"
            wait_ready(f"{api_base}/healthz", api)
            wait_ready(f"http://127.0.0.1:{hello_port}{HELLO_PATH}", hello)
            entries = leaderboard_entries(f"{api_base}{READ_PATH}")
            urls = (f"{api_base}{READ_PATH}", f"http://127.0.0.1:{hello_port}{HELLO_PATH}")
            if wrk:
                served, bare = (measure_wrk(wrk, url, script) for url in urls)
            else:
                served, bare = (measure_httpx(url) for url in urls)
        finally:
            for process in (api, hello):
                process.terminate()
                process.wait(timeout=10)
    assert served.errors == 0 and bare.errors == 0, (served.errors, bare.errors)
    ratio = served.reads_per_s / bare.reads_per_s
    if wrk:
        print(f"load generator: wrk ({WRK_THREADS} threads, {CONNECTIONS} connections)")
    else:
        print(
            f"load generator: httpx ({CONNECTIONS} AsyncClient loops in this process; "
            "wrk is not installed, so these figures are bounded by the generator)"
        )
    print(f"seeded {entries} leaderboard entries in {seeded_s:.1f} s")
    print(f"GET {READ_PATH}: {served.reads_per_s:8.0f} reads/s", end="")
    print(f"  p50 {served.p50_ms:6.1f} ms  p99 {served.p99_ms:6.1f} ms")
    print(f"GET {HELLO_PATH} (bare FastAPI): {bare.reads_per_s:8.0f} reads/s", end="")
    print(f"  p50 {bare.p50_ms:6.1f} ms  p99 {bare.p99_ms:6.1f} ms")
    print(
        f"ratio server / bare: {ratio:8.3f}  ({CONNECTIONS} connections, {DURATION_S:.0f} s each)"
    )
    emit(
        {
            "generator": generator,
            "entries": entries,
            "reads_per_s": served.reads_per_s,
            "p50_ms": served.p50_ms,
            "p99_ms": served.p99_ms,
            "hello_reads_per_s": bare.reads_per_s,
            "hello_p50_ms": bare.p50_ms,
            "hello_p99_ms": bare.p99_ms,
            "ratio": ratio,
        }
    )


if __name__ == "__main__":
    main()
