"""``devspark serve`` and ``devspark worker`` as real subprocesses, for tests that kill them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from devspark.testing.waiting import wait_until

DEVSPARK = str(Path(sys.executable).with_name("devspark"))


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A ``devspark`` command in its own process group, output kept in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        """Start it."""
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [DEVSPARK, *self.args],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        return self

    @property
    def output(self) -> str:
        """What it printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the command (not to its sandboxes)."""
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL the whole group: the command and its agent sandboxes."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def wait(self, timeout: float) -> int:
        """Its exit status."""
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """SIGTERM the group if it still runs; SIGKILL after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


class ApiServer(Process):
    """``devspark serve`` on a free port."""

    def __init__(self, data_dir: Path, env: dict[str, str], *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["serve", "--port", str(self.port), "--data-dir", str(data_dir), *extra]
        super().__init__(args, env, data_dir.parent / f"serve-{self.port}.log")

    def start(self) -> ApiServer:
        """Start it and wait until ``/readyz`` answers."""
        super().start()

        def ready() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, f"the server exited:\n{self.output}"
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, "the server to be ready")
        return self


def worker(data_dir: Path, env: dict[str, str], name: str, *extra: str) -> Process:
    """``devspark worker`` named ``name`` on the server's data folder (not started)."""
    args = ["worker", "--data-dir", str(data_dir), "--name", name, *extra]
    return Process(args, env, data_dir.parent / f"worker-{name}.log")
