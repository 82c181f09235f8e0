"""The JavaScript runner speaks wire protocol v1 exactly like the Python runner.

Both runners run directly on the system interpreters (``/usr/bin/node`` and
``/usr/bin/python3 -I -S``) with an empty environment; no sandbox is involved.
"""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from devspark.sdk import JS_RUNNER, PYTHON_RUNNER

NODE = "/usr/bin/node"
PYTHON = "/usr/bin/python3"
TIMEOUT_S = 5.0
CONTEXT_NAMES = [
    "RequestError",
    "bus_errors",
    "episode",
    "legal_actions",
    "log",
    "messages",
    "params",
    "progress",
    "publish",
    "request",
    "rng",
    "role",
    "scenario",
    "seed",
    "step",
    "submit",
    "task_id",
    "time_left_ms",
]


class Runner:
    """One runner process and the host's end of its pipes."""

    def __init__(self, argv: list[str], stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        with stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env={}
            )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self._stdin = self.proc.stdin
        self._stdout = self.proc.stdout
        self._fd = self._stdout.fileno()
        self._buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        self._stdin.write(json.dumps(message).encode() + b"\n")
        self._stdin.flush()

    def recv_raw(self) -> bytes:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"no line from the runner; stderr: {self.stderr()}")
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise EOFError(f"runner closed stdout; stderr: {self.stderr()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def recv(self) -> dict[str, Any]:
        return json.loads(self.recv_raw())

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        self.send(message)
        return self.recv()

    def finish(self, bye: bool = True) -> tuple[int, bytes]:
        """Say bye (or just close stdin); return the exit status and unread stdout."""
        if bye:
            self.send({"type": "bye"})
        self._stdin.close()
        status = self.proc.wait(TIMEOUT_S)
        rest = self._buffer + self._stdout.read()
        self._stdout.close()
        return status, rest

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT_S)
        for stream in (self._stdin, self._stdout):
            if not stream.closed:
                stream.close()


@pytest.fixture
def spawn(tmp_path: Path):
    """Start a runner on agent source: spawn(source, entry="agent.mjs")."""
    runners: list[Runner] = []

    def start(source: str, entry: str = "agent.mjs") -> Runner:
        agent_dir = tmp_path / f"agent{len(runners)}"
        agent_dir.mkdir()
        (agent_dir / entry).write_text(textwrap.dedent(source))
        if entry.endswith(".py"):
            argv = [PYTHON, "-I", "-S", str(PYTHON_RUNNER), str(agent_dir), entry]
        else:
            argv = [NODE, "--max-old-space-size=128", str(JS_RUNNER), str(agent_dir), entry]
        runner = Runner(argv, tmp_path / f"stderr{len(runners)}.txt")
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.kill()


def hello(runner: Runner, seed: int = 7, params: dict[str, Any] | None = None) -> None:
    message = {"type": "hello", "protocol": 1, "seed": seed, "params": params or {}}
    runner.send(message)
    assert runner.recv_raw() == b'{"type":"ready","protocol":1}'


def reset(runner: Runner, seed: int = 11, episode: int = 0) -> None:
    runner.send(
        {
            "type": "reset",
            "episode": episode,
            "role": "player_0",
            "scenario": "duel",
            "seed": seed,
            "config": {"size": 3},
        }
    )


def observe(step: int, observation: Any = None, **extra: Any) -> dict[str, Any]:
    return {"type": "observe", "step": step, "observation": observation, "deadline_ms": 200} | extra


ECHO_AGENT = """
export function act(observation, context) {
  if (observation === "log") context.log("thinking at " + context.step);
  return { seen: observation, step: context.step, legal: context.legal_actions };
}
"""


def test_session_echoes_steps_logs_and_exits_on_bye(spawn) -> None:
    runner = spawn(ECHO_AGENT)
    hello(runner)
    reset(runner)
    for step in range(5):
        runner.send(observe(step, step * 10, legal_actions=[0, 1]))
        action = runner.recv()
        assert action == {
            "type": "action",
            "step": step,
            "action": {"seen": step * 10, "step": step, "legal": [0, 1]},
        }
    runner.send(observe(5, "log"))
    assert runner.recv_raw() == b'{"type":"log","step":5,"message":"thinking at 5"}'
    assert runner.recv() == {
        "type": "action",
        "step": 5,
        "action": {"seen": "log", "step": 5, "legal": None},
    }
    assert runner.finish() == (0, b"")


def test_end_of_input_exits_zero(spawn) -> None:
    runner = spawn(ECHO_AGENT)
    hello(runner)
    assert runner.finish(bye=False) == (0, b"")


def test_agent_output_goes_to_stderr_not_the_protocol(spawn) -> None:
    runner = spawn(
        """
        export function act(observation, context) {
          console.log("via log"); console.info("via info"); console.debug("via debug");
          console.warn("via warn"); console.dir({ via: "dir" }); console.table(["via table"]);
          process.stdout.write("via process.stdout\\n");
          return process.stdin.read();
        }
        """
    )
    hello(runner)
    for step in range(3):
        assert runner.ask(observe(step)) == {"type": "action", "step": step, "action": None}
    assert runner.finish() == (0, b"")
    printed = runner.stderr()
    for text in ("via log", "via info", "via debug", "via warn", "dir", "via table"):
        assert text in printed
    assert printed.count("via process.stdout") == 3


def test_act_error_is_reported_and_the_runner_keeps_serving(spawn) -> None:
    runner = spawn(
        """
        export function act(observation, context) {
          if (observation === "boom") throw new Error("kaboom");
          if (observation === "nan") return NaN;
          return observation;
        }
        """
    )
    hello(runner)
    assert runner.ask(observe(0, "ok")) == {"type": "action", "step": 0, "action": "ok"}
    error = runner.ask(observe(1, "boom"))
    assert error["type"] == "error"
    assert error["step"] == 1
    assert error["kind"] == "exception"
    assert error["message"].startswith("Error: kaboom\n")
    nan = runner.ask(observe(2, "nan"))
    assert (nan["type"], nan["step"], nan["kind"]) == ("error", 2, "exception")
    assert "not JSON compliant" in nan["message"]
    assert runner.ask(observe(3, "ok")) == {"type": "action", "step": 3, "action": "ok"}
    assert runner.finish() == (0, b"")


def test_allocation_failures_are_limit_exceeded(spawn) -> None:
    runner = spawn(
        """
        export function act(observation) {
          if (observation === "array") return new Array(-1);
          if (observation === "buffer") return new ArrayBuffer(2 ** 45).byteLength;
          return null;
        }
        """
    )
    hello(runner)
    for step, observation, text in [
        (0, "array", "RangeError: Invalid array length"),
        (1, "buffer", "RangeError: Array buffer allocation failed"),
    ]:
        error = runner.ask(observe(step, observation))
        assert (error["type"], error["step"], error["kind"]) == ("error", step, "limit_exceeded")
        assert error["message"].startswith(text)
    assert runner.finish() == (0, b"")


RNG_AGENT = """
export function act(observation, context) {
  return [context.rng(), context.rng(), context.rng()];
}
"""


def draws(runner: Runner, resets: list[int]) -> list[list[float]]:
    hello(runner, seed=5)
    out = [runner.ask(observe(0))["action"]]  # seeded from hello
    for episode, seed in enumerate(resets):
        reset(runner, seed=seed, episode=episode)
        out.append(runner.ask(observe(0))["action"])
    assert runner.finish() == (0, b"")
    return out


def test_rng_is_deterministic_and_reseeded_on_reset(spawn) -> None:
    first = draws(spawn(RNG_AGENT), [11, 12, 11])
    second = draws(spawn(RNG_AGENT), [11, 12, 11])
    assert first == second
    assert first[1] == first[3]
    assert len({tuple(values) for values in first[:3]}) == 3
    assert all(0.0 <= value < 1.0 for values in first for value in values)


def test_rng_matches_python_random(spawn) -> None:
    seeds = [0, 11, 2**32, 2**40 + 3]
    got = draws(spawn(RNG_AGENT), seeds)
    expected = []
    for seed in [5, *seeds]:
        rng = random.Random(seed)
        expected.append([rng.random() for _ in range(3)])
    assert got == expected


@pytest.mark.parametrize("export", ["export class Agent", "export default class"])
def test_async_class_agent_keeps_state(spawn, export: str) -> None:
    runner = spawn(
        export
        + """ {
          constructor() { this.moves = 0; }
          async act(observation, context) {
            await new Promise((resolve) => setTimeout(resolve, 2));
            this.moves += 1;
            return { moves: this.moves, step: context.step };
          }
        }
        """
    )
    hello(runner)
    for step in range(3):
        action = runner.ask(observe(step))
        assert action == {
            "type": "action",
            "step": step,
            "action": {"moves": step + 1, "step": step},
        }
    assert runner.finish() == (0, b"")


def test_async_act_rejection_is_reported(spawn) -> None:
    runner = spawn(
        """
        export async function act(observation) {
          await null;
          if (observation) throw new TypeError("late");
          return "fine";
        }
        """
    )
    hello(runner)
    error = runner.ask(observe(0, True))
    assert (error["type"], error["step"], error["kind"]) == ("error", 0, "exception")
    assert error["message"].startswith("TypeError: late")
    assert runner.ask(observe(1, False)) == {"type": "action", "step": 1, "action": "fine"}
    assert runner.finish() == (0, b"")


def test_hooks_see_config_messages_and_results(spawn) -> None:
    runner = spawn(
        """
        export function reset(config, context) {
          context.log(JSON.stringify([config, context.episode, context.role, context.scenario]));
        }
        export function on_message(message, context) { context.log("message " + message.body); }
        export function on_result(message, context) { throw new Error("bad result hook"); }
        export function act() { return 0; }
        """
    )
    hello(runner)
    reset(runner, episode=3)
    assert runner.recv() == {
        "type": "log",
        "step": -1,
        "message": '[{"size":3},3,"player_0","duel"]',
    }
    runner.send({"type": "message", "body": "hi"})
    assert runner.recv() == {"type": "log", "step": -1, "message": "message hi"}
    runner.send({"type": "result", "scores": [1, 0]})
    log = runner.recv()  # a hook outside a move is logged, not charged as a move error
    assert (log["type"], log["step"]) == ("log", -1)
    assert log["message"].startswith("on_result raised: Error: bad result hook")
    assert runner.finish() == (0, b"")


def test_reset_hook_error_is_charged_to_the_first_move(spawn) -> None:
    runner = spawn(
        """
        export function reset() { throw new Error("bad reset"); }
        export function act() { return 5; }
        """
    )
    hello(runner)
    reset(runner, episode=1)
    error = runner.ask(observe(0))
    assert (error["type"], error["step"], error["kind"]) == ("error", 0, "exception")
    assert "bad reset" in error["message"]
    assert runner.ask(observe(1)) == {"type": "action", "step": 1, "action": 5}
    assert runner.finish() == (0, b"")


def test_long_log_lines_are_capped(spawn) -> None:
    runner = spawn('export function act(o, context) { context.log("x".repeat(10000)); }')
    hello(runner)
    runner.send(observe(0))
    log = runner.recv()
    assert (log["type"], len(log["message"])) == ("log", 4096)
    assert runner.recv() == {"type": "action", "step": 0, "action": None}
    assert runner.finish() == (0, b"")


def test_time_left_counts_deadline_and_time_bank(spawn) -> None:
    runner = spawn("export function act(o, context) { return context.time_left_ms; }")
    hello(runner)
    left = runner.ask(observe(0, deadline_ms=100, time_bank_ms=400))["action"]
    assert 300 < left <= 500
    assert runner.finish() == (0, b"")


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ('throw new TypeError("broken at import");', "TypeError: broken at import"),
        ("export const answer = 42;", "ImportError: agent.mjs defines neither"),
    ],
)
def test_import_failure_is_reported_and_exits_one(spawn, source: str, text: str) -> None:
    runner = spawn(source)
    runner.send({"type": "hello", "seed": 1})
    error = runner.recv()
    assert (error["type"], error["step"], error["kind"]) == ("error", -1, "exception")
    assert error["message"].startswith(text)
    assert runner.finish(bye=False) == (1, b"")


JS_NAMES_AGENT = """
export function act(observation, context) {
  const proto = Object.getOwnPropertyNames(Object.getPrototypeOf(context));
  const names = [...Object.keys(context), ...proto.filter((name) => name !== "constructor")];
  return names.filter((name) => !name.startsWith("_")).sort();
}
"""
PY_NAMES_AGENT = """
def act(observation, context):
    return sorted(name for name in dir(context) if not name.startswith("_"))
"""


def test_context_names_match_the_python_runner(spawn) -> None:
    names = {}
    for source, entry in [(JS_NAMES_AGENT, "agent.mjs"), (PY_NAMES_AGENT, "agent.py")]:
        runner = spawn(source, entry)
        hello(runner)
        names[entry] = runner.ask(observe(0))["action"]
        assert runner.finish() == (0, b"")
    assert names["agent.mjs"] == names["agent.py"] == CONTEXT_NAMES


JS_TWIN = """
export function reset(config, context) { context.log("reset " + context.episode); }
export function on_message(message, context) { context.log(message.body); }
export function act(observation, context) {
  if (observation === "fail") throw new Error("fail");
  return {
    observation, step: context.step, legal: context.legal_actions, role: context.role,
    scenario: context.scenario, episode: context.episode, seed: context.seed,
    params: context.params, draw: context.rng(),
  };
}
"""
PY_TWIN = """
def reset(config, context):
    context.log(f"reset {context.episode}")

def on_message(message, context):
    context.log(message["body"])

def act(observation, context):
    if observation == "fail":
        raise ValueError("fail")
    return {
        "observation": observation, "step": context.step, "legal": context.legal_actions,
        "role": context.role, "scenario": context.scenario, "episode": context.episode,
        "seed": context.seed, "params": context.params, "draw": context.rng.random(),
    }
"""


def test_transcript_matches_the_python_runner(spawn) -> None:
    script = [
        {"type": "hello", "protocol": 1, "seed": 99, "params": {"depth": 2}},
        observe(0, "before reset"),
        {"type": "reset", "episode": 0, "role": "p0", "scenario": "s", "seed": 3},
        observe(0, {"board": [1, 2]}, legal_actions=[4, 5]),
        {"type": "message", "body": "héllo 😀"},
        observe(1, "fail"),
        observe(2, "after failure"),
        {"type": "reset", "episode": 1, "role": "p1", "scenario": "t"},
        observe(0, None),
        {"type": "result", "scores": [1]},
    ]
    transcripts = {}
    for source, entry in [(JS_TWIN, "agent.mjs"), (PY_TWIN, "agent.py")]:
        runner = spawn(source, entry)
        for message in script:
            runner.send(message)
        status, rest = runner.finish()
        lines = [json.loads(line) for line in rest.splitlines()]
        for line in lines:
            if line["type"] == "error":  # tracebacks differ by language
                line["message"] = "fail" in line["message"]
        transcripts[entry] = (status, lines, rest.isascii())
    assert transcripts["agent.mjs"] == transcripts["agent.py"]
    assert len(transcripts["agent.py"][1]) == 9
