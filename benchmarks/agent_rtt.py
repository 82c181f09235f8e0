"""Agent-to-agent request/response through two sandboxes: p50 and p99.

``python benchmarks/agent_rtt.py [--tasks N] [--database postgres|sqlite]``

Agent A (``benchmarks/agents/relay``, uploaded to the registry as an ordinary user's
agent) calls ``context.request("svc.echo", {"i": n})`` from its sandbox; the host it
runs in (a real :class:`~devspark.worker.engine.Worker`) turns the request into an
``echo`` sub-task through the store, a sandboxed ``builtin:echo`` instance B answers it,
and the answer goes back to A. A times each request itself, inside its sandbox, from
writing the request line to reading the answer: ``agent_rtt_us_p50`` / ``_p99`` over
``--tasks`` relay tasks of 25 requests each (the per-task request limit is 32).

Baselines in the same run: a raw pipe round trip (one ~60-byte JSON line to a warm
``python3 -I -S`` child that writes it back: ``pipe_rtt_us_*``) and a task served
directly by a warm sandboxed echo, no store (``serve_rtt_us_*``). The difference is
what the store costs: a sub-task is submitted, claimed, started and finished, four
transactions.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from _hosting import (
    fresh_database,
    hosting_worker,
    owner_id,
    p50_p99,
    run,
    wait_for,
)
from _util import emit, figure, machine

RELAY = Path(__file__).resolve().parent / "agents" / "relay"
REQUESTS_PER_TASK = 25
SERVING = ("online", "idle", "busy")
_ECHO_CHILD = (
    "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n    sys.stdout.flush()\n"
)


def pipe_rtt_us(count: int = 3000) -> list[float]:
    """Round trips of one JSON line through a warm child over pipes, in microseconds."""
    child = subprocess.Popen(
        ["/usr/bin/python3", "-I", "-S", "-u", "-c", _ECHO_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    times = []
    try:
        for n in range(count):
            line = json.dumps({"type": "response", "id": f"r{n}", "ok": True, "payload": n})
            start = time.perf_counter()
            child.stdin.write(line.encode() + b"\n")
            child.stdin.flush()
            child.stdout.readline()
            times.append((time.perf_counter() - start) * 1e6)
    finally:
        child.kill()
        child.wait()
    return times[100:]


def serve_rtt_us(count: int = 2000) -> list[float]:
    """Echo tasks served directly by a warm sandboxed echo (no store), in microseconds."""
    from devspark.arena.agents import resolve_agent
    from devspark.sandbox.worker import ProcessWorker

    worker = ProcessWorker(resolve_agent("builtin:echo"))
    worker.start()
    times = []
    try:
        for n in range(count):
            start = time.perf_counter()
            outcome = worker.serve(
                {"id": str(n), "type": "echo", "payload": {"i": n}},
                timeout_ms=5000,
                on_progress=lambda data: None,
                on_request=lambda line: {"ok": False, "error": "none"},
            )
            times.append((time.perf_counter() - start) * 1e6)
            assert outcome.ok, outcome
    finally:
        worker.close()
    return times[100:]


def publish_relay(made: Any, data_dir: Path) -> str:
    """Upload and start the relay agent as a user's; its ``agent:USER/relay`` reference."""
    from devspark.services.registry import AgentRegistry
    from devspark.store.artifacts import ArtifactStore
    from devspark.store.models import UserRow

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("agent.toml", "agent.py"):
            archive.add(RELAY / name, arcname=name)
    who = owner_id(made)
    with made() as session:
        user = session.get(UserRow, who)
        assert user is not None
        registry = AgentRegistry(session, ArtifactStore(data_dir / "artifacts"), data_dir / "up")
        version = registry.publish(user, buffer.getvalue(), "relay.tar.gz")
        registry.start(user, version.id)
        return f"agent:{user.username}/relay"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    args = parser.parse_args()
    load = machine()
    pipe = pipe_rtt_us()
    serve = serve_rtt_us()
    from devspark.services.instances import start_instances
    from devspark.services.tasks import TaskSpec, get_task, submit_task

    with fresh_database(args.database) as url, tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        with hosting_worker(url, data_dir, instances=2) as (worker, made):
            relay = publish_relay(made, data_dir)
            who = owner_id(made)
            with made() as session:
                start_instances(session, owner_id=who, agent_ref="builtin:echo")
                start_instances(session, owner_id=who, agent_ref=relay)
            wait_for(
                lambda: (
                    worker.host is not None
                    and sum(i.state.value in SERVING for i in worker.host.instances.values()) == 2
                ),
                "the relay and echo instances",
                timeout=120,
            )
            samples: list[float] = []
            for n in range(args.tasks + 1):  # the first one warms up
                with made() as session:
                    spec = TaskSpec("relay", {"requests": REQUESTS_PER_TASK}, timeout_s=120)
                    task_id = submit_task(session, spec, owner_id=who).id
                worker.notify()

                def finished(task_id: Any = task_id) -> Any:
                    with made() as session:
                        row = get_task(session, task_id)
                        return row if row.finished_at is not None else None

                row = wait_for(finished, f"relay task {n}", timeout=120, poll_s=0.01)
                assert row.status == "succeeded", (row.status, row.error)
                if n:
                    samples += row.result
    agent_p50, agent_p99 = p50_p99(samples)
    pipe_p50, pipe_p99 = p50_p99(pipe)
    serve_p50, serve_p99 = p50_p99(serve)
    print(
        f"agent -> svc.echo -> agent, {len(samples)} requests: p50 {agent_p50:,.0f} us, "
        f"p99 {agent_p99:,.0f} us"
    )
    print(f"raw pipe round trip: p50 {pipe_p50:.1f} us, p99 {pipe_p99:.1f} us")
    print(f"sandboxed echo served directly: p50 {serve_p50:.1f} us, p99 {serve_p99:.1f} us")
    judged = [
        figure(
            "agent-to-agent request p99 (two sandboxes, through the store)",
            agent_p99 / 1000,
            "ms",
            target=100.0,
            better="lower",
            target_source="the design (task assignment under 100 ms)",
            baseline=pipe_p99 / 1000,
            baseline_name="raw pipe JSON-line round trip p99",
        )
    ]
    emit(
        {
            **load,
            "database": args.database,
            "requests": len(samples),
            "agent_rtt_us_p50": agent_p50,
            "agent_rtt_us_p99": agent_p99,
            "pipe_rtt_us_p50": pipe_p50,
            "pipe_rtt_us_p99": pipe_p99,
            "serve_rtt_us_p50": serve_p50,
            "serve_rtt_us_p99": serve_p99,
        },
        judged,
    )


if __name__ == "__main__":
    run(main)
