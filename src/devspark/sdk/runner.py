"""DevSpark wire protocol v1: the Python agent runner.

Runs inside the sandbox on ``/usr/bin/python3 -I -S``; standard library only.
Usage: ``python3 -I -S runner.py AGENT_DIR ENTRYPOINT [SITE_PACKAGES] [--adapter=kaggle]``.

``--adapter=kaggle`` runs a Kaggle submission (``agent(observation, configuration)``,
see docs/kaggle.md) through ``KaggleAgent`` from the sibling ``kaggle.py`` (loaded only
then); the default is the native ``act(observation, context)`` interface.

The protocol is JSON lines: the host writes ``hello``, ``reset``, ``observe``,
``message``, ``result``, ``task``, ``response`` and ``bye``; the runner answers ``ready``
to ``hello``, ``action`` to ``observe`` and ``task_result`` to ``task`` and may send
``log`` and ``error`` at any time, ``publish``, ``request`` and ``submit`` while the agent
works and ``progress`` while it handles a task (a ``request`` or ``submit`` blocks until
its ``response``; lines arriving meanwhile wait their turn). See docs/protocol.md. Agent code that prints goes to stderr: fd 1 is reserved for the
protocol, and fd 0 is replaced by /dev/null so agent code cannot eat host messages.
"""

from __future__ import annotations

import errno
import os
import random
import sys
import time

try:  # json's C accelerator directly: importing json pulls in re and enum (~6 ms of start)
    import _json

    class _JSONConfig:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        memo: dict[str, str] = {}

        @staticmethod
        def parse_constant(name: str) -> float:
            raise ValueError(f"{name} is not valid JSON")

    _scan = _json.make_scanner(_JSONConfig())  # type: ignore[arg-type]  # duck-typed context

    def _loads(data: bytes) -> Any:
        text = data.decode()
        value, end = _scan(text, 0)
        if text[end:].strip():
            raise ValueError("extra data after JSON value")
        return value

    def _not_serialisable(value: Any) -> Any:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    _dumps = _json.make_encoder(
        None, _not_serialisable, _json.encode_basestring_ascii, None, ":", ",", False, False, False
    )

    def _dumps_str(value: Any) -> str:
        return "".join(_dumps(value, 0))

except ImportError:  # pragma: no cover - an interpreter without _json
    import json

    _loads = json.loads  # type: ignore[assignment]
    _dumps_str = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode  # type: ignore[assignment]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PROTOCOL_VERSION = 1
MAX_LOG_CHARS = 4096
LIMIT_ERRNOS = frozenset(
    {errno.EFBIG, errno.ENOSPC, errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.EDQUOT}
)

# The protocol streams: main() moves them off fds 0/1 before agent code is imported
# (importing this module has no side effects: the trusted level uses its Kaggle adapter).
PROTOCOL_IN_FD = 0
PROTOCOL_OUT_FD = 1


def _claim_stdio() -> None:
    """Keep fds 0/1 for the protocol; give agent code /dev/null and stderr instead."""
    global PROTOCOL_IN_FD, PROTOCOL_OUT_FD
    PROTOCOL_IN_FD = os.dup(0)
    PROTOCOL_OUT_FD = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


class RequestError(Exception):
    """A ``context.request`` or ``context.submit`` the host answered with ``ok: false``."""


class _Input:
    """The host's lines: read from the protocol fd, or kept while a request waited."""

    def __init__(self) -> None:
        self.buffer = b""
        self.kept: list[Any] = []  # decoded lines that arrived while a request waited

    def read(self) -> bytes | None:
        """The next non-empty line from the protocol fd (None at end of input)."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line, self.buffer = self.buffer[:end], self.buffer[end + 1 :]
                if line:
                    return line
                continue
            chunk = os.read(PROTOCOL_IN_FD, 1 << 16)
            if not chunk:
                return None  # a partial last line is dropped
            self.buffer += chunk

    def wait_response(self, ident: str) -> dict[str, Any]:
        """Block until the ``response`` to ``ident``, keeping every other line for later."""
        while True:
            line = self.read()
            if line is None:
                raise RequestError("the host closed the protocol before answering")
            message = _loads(line)
            if (
                isinstance(message, dict)
                and message.get("type") == "response"
                and message.get("id") == ident
            ):
                return message
            self.kept.append(message)


_input = _Input()
_request_ids = [0]


def _ask(message: dict[str, Any]) -> Any:
    """Send a ``request`` or ``submit`` and return the payload of its ``response``."""
    _request_ids[0] += 1
    ident = f"{message['type'][0]}{_request_ids[0]}"
    send({"type": message["type"], "id": ident, **message})
    answer = _input.wait_response(ident)
    if answer.get("ok") is True:
        return answer.get("payload")
    raise RequestError(str(answer.get("error", "refused")))


def send(message: dict[str, Any]) -> None:
    """Write one protocol message to the host."""
    data = _dumps_str(message).encode() + b"\n"
    written = os.write(PROTOCOL_OUT_FD, data)
    while written < len(data):  # only lines larger than the pipe buffer get here
        data = data[written:]
        written = os.write(PROTOCOL_OUT_FD, data)


class Context:
    """What an agent sees besides the observation (same names in the JS SDK)."""

    __slots__ = (
        "_bank_ms",
        "_deadline",
        "bus_errors",
        "episode",
        "legal_actions",
        "messages",
        "params",
        "rng",
        "role",
        "scenario",
        "seed",
        "step",
        "task_id",
    )

    RequestError = RequestError
    """What ``request`` and ``submit`` raise on a refusal: ``except context.RequestError``."""

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
        self._bank_ms = 0.0  # what is left of the episode's overage bank (Kaggle adapter)
        self.messages: list[dict[str, Any]] = []
        self.bus_errors: list[dict[str, Any]] = []
        self.task_id: str | None = None  # the task being handled (service agents)

    @property
    def time_left_ms(self) -> float:
        """Milliseconds left for this move, time bank included."""
        return max(0.0, (self._deadline - time.monotonic()) * 1000.0)

    def log(self, message: object) -> None:
        """Send a line to the match log (capped by the host)."""
        send({"type": "log", "step": self.step, "message": str(message)[:MAX_LOG_CHARS]})

    def publish(self, channel: str, payload: Any) -> None:
        """Publish ``payload`` (any JSON value) on ``channel``; the host routes it.

        Subscribers whose manifest grants ``bus:subscribe:`` a matching pattern get it in
        ``context.messages`` at their next move. A refused publish (no grant, over a
        limit) shows up in ``context.bus_errors`` at this agent's next move.

        Raises:
            TypeError: ``payload`` is not JSON serialisable.
            ValueError: ``payload`` holds NaN or an infinity.

        """
        send({"type": "publish", "channel": channel, "payload": payload})

    def request(self, to: str, payload: Any = None, timeout_ms: int = 1000) -> Any:
        """Ask ``to`` (``svc.TYPE``, ``sys.memory``...) and wait for its answer.

        The host answers within ``timeout_ms``, cut to what is left of the move or task,
        if the manifest grants ``bus:request:`` a pattern matching ``to``.

        Returns:
            The answer's payload.

        Raises:
            RequestError: the host refused or the target failed (the error text says why).

        """
        return _ask({"type": "request", "to": to, "payload": payload, "timeout_ms": timeout_ms})

    def submit(
        self, task_type: str, payload: Any = None, to: str | None = None, timeout_ms: int = 10000
    ) -> Any:
        """Submit a sub-task of ``task_type`` (to one instance, or any) and wait for its result.

        For service agents while they handle a task; needs ``bus:request:svc.TASK_TYPE``.

        Raises:
            RequestError: refused, failed or timed out (the error text says which).

        """
        message = {"type": "submit", "task_type": task_type, "payload": payload, "to": to}
        return _ask({**message, "timeout_ms": timeout_ms})

    def progress(self, data: Any) -> None:
        """Report progress on the current task (streamed to its watchers; capped by the host)."""
        if self.task_id is not None:
            send({"type": "progress", "id": self.task_id, "data": data})


def _hook_failed(name: str, exc: BaseException) -> None:
    """A hook outside ``act`` raised: tell the match log, charge no move."""
    send({"type": "log", "step": -1, "message": f"{name} raised: {exc!r}"[:MAX_LOG_CHARS]})


def _load_agent(
    agent_dir: str, entrypoint: str, adapter: str = "native", limits: dict[str, Any] | None = None
) -> Any:
    sys.path.insert(0, agent_dir)
    path = os.path.join(agent_dir, entrypoint)
    if adapter == "kaggle":  # loaded only for Kaggle agents: it costs start time
        kaggle = type(sys)("devspark_kaggle")
        kaggle_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kaggle.py")
        with open(kaggle_path, "rb") as handle:
            exec(compile(handle.read(), kaggle_path, "exec"), kaggle.__dict__)
        return kaggle.KaggleAgent(path, limits or {})
    if adapter != "native":
        raise ValueError(f"unknown adapter {adapter!r}; expected 'native' or 'kaggle'")
    with open(path, "rb") as handle:
        code = compile(handle.read(), path, "exec")
    module = type(sys)("agent")  # a plain module; importlib.util would add ~4 ms of start
    module.__file__ = path
    sys.modules["agent"] = module
    exec(code, module.__dict__)
    if callable(getattr(module, "act", None)) or callable(getattr(module, "handle", None)):
        return module
    cls = getattr(module, "Agent", None)
    if cls is None:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == "agent"
                and (hasattr(value, "act") or hasattr(value, "handle"))
            ):
                cls = value
                break
    if cls is None:
        raise ImportError(
            f"{entrypoint} defines neither act(observation, context), "
            "handle(task, context) nor an Agent class"
        )
    return cls()


def _fault_kind(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "limit_exceeded"
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return "limit_exceeded"  # pthread_create hit the pids limit
    if isinstance(exc, OSError) and exc.errno in LIMIT_ERRNOS:
        return "limit_exceeded"
    return "exception"


def _report(step: int, exc: BaseException) -> None:
    text = _traceback(exc)
    try:
        send({"type": "error", "step": step, "kind": _fault_kind(exc), "message": text})
    except MemoryError:
        send({"type": "error", "step": step, "kind": "limit_exceeded", "message": "MemoryError"})


def _traceback(exc: BaseException) -> str:
    try:
        import traceback  # only on the error path: it costs ~8 ms to import

        return "".join(traceback.format_exception(exc))[-MAX_LOG_CHARS:]
    except Exception:  # no fds or memory left to import with: report what we have
        return repr(exc)[-MAX_LOG_CHARS:]


def _serve_task(agent: Any, message: dict[str, Any], context: Context) -> None:
    """Run ``handle(task, context)`` and send its ``task_result``."""
    ident = message["id"]
    reply: dict[str, Any] = {"type": "task_result", "id": ident}
    handle = getattr(agent, "handle", None)
    if not callable(handle):
        send({**reply, "ok": False, "error": "agent has no handle()"})
        return
    context.task_id = ident
    context._deadline = time.monotonic() + message.get("deadline_ms", 0) / 1000.0
    task = {"id": ident, "type": message.get("task_type"), "payload": message.get("payload")}
    try:
        result = handle(task, context)
    except (Exception, MemoryError) as exc:  # the agent's own fault, reported
        try:
            send({**reply, "ok": False, "error": _traceback(exc), "kind": _fault_kind(exc)})
        except MemoryError:
            send({**reply, "ok": False, "error": "MemoryError", "kind": "limit_exceeded"})
        return
    finally:
        context.task_id = None
    try:
        send({**reply, "ok": True, "result": result})
    except (TypeError, ValueError, RecursionError) as exc:
        send({**reply, "ok": False, "error": f"the result is not JSON: {exc}"[:MAX_LOG_CHARS]})
    except MemoryError:
        send({**reply, "ok": False, "error": "MemoryError", "kind": "limit_exceeded"})


def _lines() -> Any:
    """Every line from the host, the ones kept while a request waited first."""
    while True:
        if _input.kept:
            yield _input.kept.pop(0)
            continue
        line = _input.read()
        if line is None:
            return
        yield _loads(line)


def main(argv: list[str]) -> int:
    """Serve the protocol until ``bye`` or end of input."""
    _claim_stdio()
    options = [arg for arg in argv[1:] if arg.startswith("--")]
    args = [arg for arg in argv[1:] if not arg.startswith("--")]
    agent_dir, entrypoint = args[0], args[1]
    if len(args) > 2:
        sys.path.insert(0, args[2])
    adapter = "native"
    for option in options:
        if option.startswith("--adapter="):
            adapter = option.removeprefix("--adapter=")
    agent: Any = None
    context: Context | None = None
    reset_error: BaseException | None = None  # charged to the episode's first move
    for message in _lines():
        kind = message["type"]
        if kind == "observe":
            assert context is not None
            context.step = step = message["step"]
            context.legal_actions = message.get("legal_actions")
            context._bank_ms = bank_ms = message.get("time_bank_ms", 0)
            context._deadline = time.monotonic() + (message["deadline_ms"] + bank_ms) / 1000.0
            context.messages = message.get("messages") or []
            context.bus_errors = message.get("bus_errors") or []
            hook = getattr(agent, "on_message", None)
            if callable(hook):
                for delivered in context.messages:
                    try:
                        hook(delivered, context)
                    except Exception as exc:
                        _hook_failed("on_message", exc)
            try:
                if reset_error is not None:
                    pending, reset_error = reset_error, None
                    raise pending
                action = agent.act(message["observation"], context)
                send({"type": "action", "step": step, "action": action})
            except (Exception, MemoryError) as exc:  # the agent's own fault, reported
                _report(step, exc)
        elif kind == "task":
            assert context is not None
            _serve_task(agent, message, context)
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
                    reset_error = exc
        elif kind == "hello":
            context = Context(message.get("params", {}), message.get("seed", 0))
            try:
                agent = _load_agent(agent_dir, entrypoint, adapter, message.get("limits"))
            except (Exception, MemoryError) as exc:
                _report(-1, exc)
                return 1
            send({"type": "ready", "protocol": PROTOCOL_VERSION})
        elif kind in ("message", "result"):
            name = "on_message" if kind == "message" else "on_result"
            hook = getattr(agent, name, None)
            if callable(hook):
                try:
                    hook(message, context)
                except Exception as exc:  # outside a move: logged, no move is charged
                    _hook_failed(name, exc)
        elif kind == "bye":
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
