"""DevSpark wire protocol v1: the Python agent runner.

Runs inside the sandbox on ``/usr/bin/python3 -I -S``; standard library only.
Usage: ``python3 -I -S runner.py AGENT_DIR ENTRYPOINT [SITE_PACKAGES]``.

The protocol is JSON lines: the host writes ``hello``, ``reset``, ``observe``,
``message``, ``result`` and ``bye``; the runner answers ``ready`` to ``hello`` and
``action`` to ``observe`` and may send ``log`` and ``error`` at any time. See
docs/protocol.md. Agent code that prints goes to stderr: fd 1 is reserved for the
protocol, and fd 0 is replaced by /dev/null so agent code cannot eat host messages.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import random
import sys
import time
import traceback
from typing import Any

PROTOCOL_VERSION = 1
MAX_LOG_CHARS = 4096
LIMIT_ERRNOS = frozenset(
    {errno.EFBIG, errno.ENOSPC, errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.EDQUOT}
)

# The protocol streams, moved off fds 0/1 before agent code is imported.
PROTOCOL_IN_FD = os.dup(0)
PROTOCOL_OUT_FD = os.dup(1)
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)
os.dup2(2, 1)
sys.stdout = sys.stderr

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_loads = json.loads


def send(message: dict[str, Any]) -> None:
    """Write one protocol message to the host."""
    data = (_dumps(message) + "\n").encode()
    view = memoryview(data)
    while view:
        written = os.write(PROTOCOL_OUT_FD, view)
        view = view[written:]


class Context:
    """What an agent sees besides the observation (same names in the JS SDK)."""

    __slots__ = (
        "_deadline",
        "episode",
        "legal_actions",
        "params",
        "rng",
        "role",
        "scenario",
        "seed",
        "step",
    )

    def __init__(self, params: dict[str, Any], seed: int) -> None:
        self.params = params
        self.seed = seed
        self.rng = random.Random(seed)
        self.legal_actions: list[Any] | None = None
        self.step = -1
        self.role = ""
        self.scenario = ""
        self.episode = -1
        self._deadline = 0.0

    @property
    def time_left_ms(self) -> float:
        """Milliseconds left for this move, time bank included."""
        return max(0.0, (self._deadline - time.monotonic()) * 1000.0)

    def log(self, message: object) -> None:
        """Send a line to the match log (capped by the host)."""
        send({"type": "log", "step": self.step, "message": str(message)[:MAX_LOG_CHARS]})


def _load_agent(agent_dir: str, entrypoint: str) -> Any:
    sys.path.insert(0, agent_dir)
    path = os.path.join(agent_dir, entrypoint)
    spec = importlib.util.spec_from_file_location("agent", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load entrypoint {entrypoint!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["agent"] = module
    spec.loader.exec_module(module)
    if callable(getattr(module, "act", None)):
        return module
    cls = getattr(module, "Agent", None)
    if cls is None:
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == "agent" and hasattr(value, "act"):
                cls = value
                break
    if cls is None:
        raise ImportError(f"{entrypoint} defines neither act(observation, context) nor an Agent class")
    return cls()


def _fault_kind(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "limit_exceeded"
    if isinstance(exc, OSError) and exc.errno in LIMIT_ERRNOS:
        return "limit_exceeded"
    return "exception"


def _report(step: int, exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))[-MAX_LOG_CHARS:]
    try:
        send({"type": "error", "step": step, "kind": _fault_kind(exc), "message": text})
    except MemoryError:
        send({"type": "error", "step": step, "kind": "limit_exceeded", "message": "MemoryError"})


def _lines() -> Any:
    buffer = b""
    while True:
        chunk = os.read(PROTOCOL_IN_FD, 1 << 16)
        if not chunk:
            return
        buffer += chunk
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                break
            line, buffer = buffer[:end], buffer[end + 1 :]
            if line:
                yield line


def main(argv: list[str]) -> int:
    """Serve the protocol until ``bye`` or end of input."""
    agent_dir, entrypoint = argv[1], argv[2]
    if len(argv) > 3:
        sys.path.insert(0, argv[3])
    agent: Any = None
    context: Context | None = None
    for line in _lines():
        message = _loads(line)
        kind = message["type"]
        if kind == "observe":
            assert context is not None
            context.step = step = message["step"]
            context.legal_actions = message.get("legal_actions")
            context._deadline = time.monotonic() + (
                message["deadline_ms"] + message.get("time_bank_ms", 0)
            ) / 1000.0
            try:
                action = agent.act(message["observation"], context)
                send({"type": "action", "step": step, "action": action})
            except (Exception, MemoryError) as exc:  # the agent's own fault, reported
                _report(step, exc)
        elif kind == "reset":
            assert context is not None
            context.episode = message["episode"]
            context.role = message["role"]
            context.scenario = message["scenario"]
            context.step = -1
            context.rng.seed(message.get("seed", context.seed))
            hook = getattr(agent, "reset", None)
            if callable(hook):
                try:
                    hook(message.get("config", {}), context)
                except Exception as exc:
                    _report(-1, exc)
        elif kind == "hello":
            context = Context(message.get("params", {}), message.get("seed", 0))
            try:
                agent = _load_agent(agent_dir, entrypoint)
            except (Exception, MemoryError) as exc:
                _report(-1, exc)
                return 1
            send({"type": "ready", "protocol": PROTOCOL_VERSION})
        elif kind == "message":
            hook = getattr(agent, "on_message", None)
            if callable(hook):
                try:
                    hook(message, context)
                except Exception as exc:
                    _report(-1, exc)
        elif kind == "result":
            hook = getattr(agent, "on_result", None)
            if callable(hook):
                try:
                    hook(message, context)
                except Exception as exc:
                    _report(-1, exc)
        elif kind == "bye":
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
