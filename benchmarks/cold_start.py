"""Start-to-ready of a sandboxed Python and Node agent (every sandbox layer on).

Measures ``ProcessWorker.start``: cgroup creation and limits, rlimits, setpriv,
bubblewrap, seccomp, interpreter start, the runner importing the agent, and the
hello/ready exchange. Next to it, in the same run, the bare interpreters started
unsandboxed with a clean environment (``python3 -I -S -c 0``, ``node -e 0``) as the
baseline. Prints one JSON object: python_ms_p50, node_ms_p50 (and the baselines).
"""

from __future__ import annotations

import subprocess
import time

from _util import emit, median
from devspark.arena.agents import resolve_agent
from devspark.core.lifecycle import LifecycleState
from devspark.sandbox import IsolationLevel
from devspark.sandbox.worker import ProcessWorker

RUNS = 30


def sandboxed_ms(ref: str) -> list[float]:
    package = resolve_agent(ref)
    samples = []
    for _ in range(RUNS + 3):
        worker = ProcessWorker(package, level=IsolationLevel.SANDBOX)
        start = time.perf_counter()
        worker.start()
        samples.append((time.perf_counter() - start) * 1000)
        assert worker.lifecycle.state is LifecycleState.ONLINE, worker.lifecycle.history
        worker.close()
    return samples[3:]


def bare_ms(argv: list[str]) -> list[float]:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, env={"PATH": "/usr/bin:/bin"}, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    python = median(sandboxed_ms("builtin:random"))
    node = median(sandboxed_ms("builtin:random-js"))
    bare_python = median(bare_ms(["/usr/bin/python3", "-I", "-S", "-c", "0"]))
    bare_node = median(bare_ms(["/usr/bin/node", "-e", "0"]))
    print(
        f"python: sandboxed start-to-ready {python:6.1f} ms (bare interpreter {bare_python:5.1f} ms)"
    )
    print(f"node:   sandboxed start-to-ready {node:6.1f} ms (bare interpreter {bare_node:5.1f} ms)")
    emit(
        {
            "python_ms_p50": python,
            "node_ms_p50": node,
            "bare_python_ms_p50": bare_python,
            "bare_node_ms_p50": bare_node,
        }
    )


if __name__ == "__main__":
    main()
