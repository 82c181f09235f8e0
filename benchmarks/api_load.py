"""API reads per second and latency with 50 concurrent clients, next to bare FastAPI.

Starts the real server (``create_app`` under uvicorn, one worker, in a subprocess on a
free port, SQLite in a temporary folder, development mode, rate limits on but set far
above the load so the middleware does its counting without refusing) and, in the same
run, a bare FastAPI hello-world app (``async def`` returning a small JSON object) under
uvicorn the same way. Each is driven for ``DURATION_S`` seconds (after a warm-up) by
``CLIENTS`` concurrent ``httpx.AsyncClient`` loops in this process.

There is no leaderboard route yet, and no route to record results, so the read is
``GET /api/v1/scenarios?limit=50`` (every registered scenario, paginated, the closest
read-mostly listing); the database is seeded with one registered user only. Switch
``READ_PATH`` to the leaderboard once it lands.

The load generator shares the machine with the server (2 cores here), so absolute
figures are a floor; the ratio to the bare app is the figure to watch.
Prints one JSON object: reads_per_s, p50_ms, p99_ms, hello_reads_per_s, hello_p50_ms,
hello_p99_ms, ratio (reads_per_s / hello_reads_per_s).
"""

from __future__ import annotations

import asyncio
import os
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

CLIENTS = 50
DURATION_S = 10.0
WARMUP_S = 2.0
READ_PATH = "/api/v1/scenarios?limit=50"
HELLO_PATH = "/hello"

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


def seed(base: str) -> None:
    user = {"username": "bench", "password": "correct horse battery"}
    response = httpx.post(f"{base}/api/v1/auth/register", json=user, timeout=10.0)
    assert response.status_code == 201, response.text


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


def measure(url: str) -> Load:
    return asyncio.run(drive(url, clients=CLIENTS, duration_s=DURATION_S, warmup_s=WARMUP_S))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="devspark-api-load-") as tmp:
        api_port, hello_port = free_port(), free_port()
        api = start(SERVER_CODE, str(Path(tmp) / "data"), str(api_port))
        hello = start(HELLO_CODE, str(hello_port))
        try:
            api_base = f"http://127.0.0.1:{api_port}"
            wait_ready(f"{api_base}/healthz", api)
            wait_ready(f"http://127.0.0.1:{hello_port}{HELLO_PATH}", hello)
            seed(api_base)
            served = measure(f"{api_base}{READ_PATH}")
            bare = measure(f"http://127.0.0.1:{hello_port}{HELLO_PATH}")
        finally:
            for process in (api, hello):
                process.terminate()
                process.wait(timeout=10)
    assert served.errors == 0 and bare.errors == 0, (served.errors, bare.errors)
    ratio = served.reads_per_s / bare.reads_per_s
    print(f"GET {READ_PATH}: {served.reads_per_s:8.0f} reads/s", end="")
    print(f"  p50 {served.p50_ms:6.1f} ms  p99 {served.p99_ms:6.1f} ms")
    print(f"GET {HELLO_PATH} (bare FastAPI): {bare.reads_per_s:8.0f} reads/s", end="")
    print(f"  p50 {bare.p50_ms:6.1f} ms  p99 {bare.p99_ms:6.1f} ms")
    print(f"ratio server / bare: {ratio:8.2f}  ({CLIENTS} clients, {DURATION_S:.0f} s each)")
    emit(
        {
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
