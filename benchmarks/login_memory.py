"""Server memory under 32 concurrent logins: argon2 bounded to one slot per CPU.

Each argon2id verification (argon2-cffi's defaults: 64 MiB, t=3, p=4) allocates 64 MiB
for its duration. The server bounds concurrent hashing with
``devspark.services.password_slots.PASSWORD_SLOTS`` (one slot per usable CPU); without
the bound, 32 simultaneous logins allocate 32 x 64 MiB at once.

For each slot count (the default, then 32: as many slots as logins, i.e. no bound, the
baseline measured in the same run), this starts the real server (``create_app`` under
uvicorn, in a subprocess on a free port, SQLite in a temporary folder, rate limits off,
the production argon2 parameters), registers one account, logs in once to warm up,
reads the server's resident memory (``VmRSS``), resets its peak (``/proc/PID/clear_refs``)
and sends 32 logins at once (correct password, one account, so the per-account throttle
is not involved). It prints the peak (``VmHWM``) during the burst, the memory after it,
and how long the burst took.

Target (set here, issue 11): the peak during the burst stays within the memory before
it plus (slots + 1) x 64 MiB, i.e. the number of logins does not multiply memory.

Run: ``.venv/bin/python benchmarks/login_memory.py`` (``--logins N``, ``--slots N``).
Prints one JSON object last: per slot count rss_before_mib, peak_mib, rss_after_mib,
burst_s, and the judged figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from _util import ROOT, emit, figure, machine

PASSWORD = "correct horse battery"  # noqa: S105 -- a throwaway benchmark account
ARGON2_MIB = 64
SERVER = """
import sys
import uvicorn
from pathlib import Path
from devspark.app import create_app
from devspark.server.settings import Settings
from devspark.services.password_slots import PASSWORD_SLOTS

port, data_dir, slots = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
if slots:
    PASSWORD_SLOTS.size = slots
settings = Settings.from_env(
    data_dir=data_dir, port=port, dev_mode=True, rate_limit="off", rate_limit_ip="off",
    environ={},
)
uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _status(pid: int, field: str) -> float:
    """A ``/proc/PID/status`` memory field, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server did not become ready")


async def _burst(url: str, logins: int) -> float:
    credentials = {"username": "bench", "password": PASSWORD}
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        start = time.perf_counter()
        responses = await asyncio.gather(
            *(client.post("/api/v1/auth/login", json=credentials) for _ in range(logins))
        )
        elapsed = time.perf_counter() - start
    codes = sorted({r.status_code for r in responses})
    assert codes == [200], codes
    return elapsed


def measure(slots: int, logins: int) -> dict[str, Any]:
    """Start a server with ``slots`` hashing slots (0: the default) and burst it."""
    with tempfile.TemporaryDirectory() as folder:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        env.pop("DEVSPARK_DATABASE_URL", None)
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port), folder, str(slots)], env=env
        )
        try:
            _wait_ready(url, process)
            credentials = {"username": "bench", "password": PASSWORD}
            assert httpx.post(f"{url}/api/v1/auth/register", json=credentials).status_code == 201
            assert httpx.post(f"{url}/api/v1/auth/login", json=credentials).status_code == 200
            before = _status(process.pid, "VmRSS")
            Path(f"/proc/{process.pid}/clear_refs").write_text("5")  # reset the peak
            burst = asyncio.run(_burst(url, logins))
            return {
                "slots": slots or "default",
                "rss_before_mib": before,
                "peak_mib": _status(process.pid, "VmHWM"),
                "rss_after_mib": _status(process.pid, "VmRSS"),
                "burst_s": burst,
            }
        finally:
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    """Measure with the default bound and without one; print the figures."""
    sys.path.insert(0, str(ROOT / "src"))
    from devspark.services.password_slots import cpu_slots

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=int, default=32, help="Concurrent logins (32).")
    parser.add_argument("--slots", type=int, default=cpu_slots(), help="Bounded slot count.")
    args = parser.parse_args()
    machine()
    bounded = measure(args.slots, args.logins)
    unbounded = measure(args.logins, args.logins)
    for run in (bounded, unbounded):
        print(
            f"slots {run['slots']}: RSS {run['rss_before_mib']:.0f} MiB before, peak "
            f"{run['peak_mib']:.0f} MiB during {args.logins} concurrent logins "
            f"({run['burst_s']:.2f} s), {run['rss_after_mib']:.0f} MiB after"
        )
    judged = figure(
        f"server peak memory during {args.logins} concurrent logins",
        bounded["peak_mib"],
        "MiB",
        target=bounded["rss_before_mib"] + (args.slots + 1) * ARGON2_MIB,
        better="lower",
        target_source=f"issue 11: before + ({args.slots} slots + 1) x {ARGON2_MIB} MiB",
        baseline=unbounded["peak_mib"],
        baseline_name=f"{args.logins} slots (no bound)",
    )
    emit({"logins": args.logins, "bounded": bounded, "unbounded": unbounded}, [judged])


if __name__ == "__main__":
    main()
