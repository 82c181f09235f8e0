"""Round trip of one observe/act to a warm sandboxed Python agent vs a raw pipe echo.

The baseline is the bare cost of a JSON-lines round trip with no sandbox, no runner and
no protocol checks: the host encodes a ~150-byte observe message and writes it to an
unsandboxed ``/usr/bin/python3`` child over a pipe; the child parses it, encodes a reply
and writes it back; the host parses the reply. The sandboxed figure is the full
``ProcessWorker.act`` path to ``builtin:random`` under bubblewrap + seccomp + cgroups.
The ratio is what the sandbox, the runner and the host's deadline/cap checks add.
A pure byte echo (no JSON either side) is printed too, as ``raw_bytes_us_p50``.
The process and every child are pinned to one CPU, where figures are stable (unpinned
on two CPUs the medians swing several-fold from run to run as the scheduler moves the
two ends of the pipe between CPUs).
Target: the sandboxed p50 at most 1.5 times the JSON pipe echo's (set here: the design
wants the sandbox to add next to nothing to a warm round trip).
Prints one JSON object: sandboxed_us_p50, sandboxed_us_p99, raw_pipe_us_p50, ratio and
the judged figure (target, met, ratio).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time

from _util import emit, figure, machine, median, percentile
from devspark.arena.agents import resolve_agent
from devspark.sandbox import IsolationLevel
from devspark.sandbox.worker import ProcessWorker

TARGET_RATIO = 1.5
MOVES = 5000
WARMUP = 500
ECHO = """
import json, os, sys
parse = sys.argv[1] == "json"
dumps = json.JSONEncoder(separators=(",", ":")).encode
buf = b""
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    buf += chunk
    while b"\\n" in buf:
        line, _, buf = buf.partition(b"\\n")
        if parse:
            message = json.loads(line)
            line = dumps({"type": "action", "step": message["step"], "action": message["legal_actions"][0]}).encode()
        os.write(1, line + b"\\n")
"""
OBSERVATION = {"board": [0, 1, 2, 0, 0, 1, 0, 2, 0], "mark": 1}
LEGAL = [0, 3, 4, 6, 8]


def raw_pipe_us(mode: str) -> list[float]:
    child = subprocess.Popen(
        ["/usr/bin/python3", "-I", "-S", "-c", ECHO, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
    )
    assert child.stdin and child.stdout
    out_fd, in_fd = child.stdin.fileno(), child.stdout.fileno()
    poller = select.poll()
    poller.register(in_fd, select.POLLIN)
    encode = json.JSONEncoder(separators=(",", ":")).encode
    samples = []
    for i in range(MOVES + WARMUP):
        start = time.perf_counter()
        message = {
            "type": "observe",
            "step": i,
            "observation": OBSERVATION,
            "legal_actions": LEGAL,
            "deadline_ms": 200,
            "time_bank_ms": 2000,
        }
        os.write(out_fd, encode(message).encode() + b"\n")
        buffer = b""
        while not buffer.endswith(b"\n"):
            poller.poll(1000)
            buffer += os.read(in_fd, 65536)
        if mode == "json":
            json.loads(buffer)
        if i >= WARMUP:
            samples.append((time.perf_counter() - start) * 1e6)
    child.stdin.close()
    child.wait()
    return samples


def sandboxed_us() -> list[float]:
    worker = ProcessWorker(resolve_agent("builtin:random"), level=IsolationLevel.SANDBOX)
    worker.reset(episode=0, scenario="tictactoe-v1", role="player_0", seed=1, config={})
    samples = []
    try:
        for i in range(MOVES + WARMUP):
            start = time.perf_counter()
            decision = worker.act(i, OBSERVATION, LEGAL)
            elapsed = (time.perf_counter() - start) * 1e6
            assert decision.status == "ok", decision
            if i >= WARMUP:
                samples.append(elapsed)
    finally:
        worker.close()
    return samples


def main() -> None:
    load = machine()
    os.sched_setaffinity(0, {0})
    raw_bytes = raw_pipe_us("bytes")
    raw = raw_pipe_us("json")
    boxed = sandboxed_us()
    raw_p50, boxed_p50 = median(raw), median(boxed)
    print(
        f"byte echo          p50 {median(raw_bytes):7.1f} us  p99 {percentile(raw_bytes, 99):7.1f} us"
    )
    print(f"JSON pipe echo     p50 {raw_p50:7.1f} us  p99 {percentile(raw, 99):7.1f} us")
    print(f"sandboxed act      p50 {boxed_p50:7.1f} us  p99 {percentile(boxed, 99):7.1f} us")
    judged = figure(
        "sandboxed act round trip p50",
        boxed_p50,
        "us",
        target=TARGET_RATIO * raw_p50,
        better="lower",
        target_source=f"{TARGET_RATIO} x the JSON pipe echo, same run",
        baseline=raw_p50,
        baseline_name="JSON pipe echo p50, unsandboxed",
    )
    emit(
        {
            **load,
            "sandboxed_us_p50": boxed_p50,
            "sandboxed_us_p99": percentile(boxed, 99),
            "raw_pipe_us_p50": raw_p50,
            "ratio": boxed_p50 / raw_p50,
            "raw_bytes_us_p50": median(raw_bytes),
        },
        [judged],
    )


if __name__ == "__main__":
    main()
