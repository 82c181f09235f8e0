"""DevSpark wire protocol v1: the Python agent runner.

Runs inside the sandbox on ``/usr/bin/python3 -I -S``; standard library only.
Usage: ``python3 -I -S runner.py AGENT_DIR ENTRYPOINT [SITE_PACKAGES] [--adapter=kaggle]``.

``--adapter=kaggle`` runs a Kaggle submission (``agent(observation, configuration)``,
see docs/kaggle.md) through :class:`KaggleAgent`; the default is the native
``act(observation, context)`` interface.

The protocol is JSON lines: the host writes ``hello``, ``reset``, ``observe``,
``message``, ``result`` and ``bye``; the runner answers ``ready`` to ``hello`` and
``action`` to ``observe`` and may send ``log`` and ``error`` at any time. See
docs/protocol.md. Agent code that prints goes to stderr: fd 1 is reserved for the
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
        self._bank_ms = 0.0  # what is left of the episode's overage bank (Kaggle adapter)

    @property
    def time_left_ms(self) -> float:
        """Milliseconds left for this move, time bank included."""
        return max(0.0, (self._deadline - time.monotonic()) * 1000.0)

    def log(self, message: object) -> None:
        """Send a line to the match log (capped by the host)."""
        send({"type": "log", "step": self.step, "message": str(message)[:MAX_LOG_CHARS]})


def _load_agent(
    agent_dir: str, entrypoint: str, adapter: str = "native", limits: dict[str, Any] | None = None
) -> Any:
    sys.path.insert(0, agent_dir)
    path = os.path.join(agent_dir, entrypoint)
    if adapter == "kaggle":
        return KaggleAgent(path, limits or {})
    if adapter != "native":
        raise ValueError(f"unknown adapter {adapter!r}; expected 'native' or 'kaggle'")
    with open(path, "rb") as handle:
        code = compile(handle.read(), path, "exec")
    module = type(sys)("agent")  # a plain module; importlib.util would add ~4 ms of start
    module.__file__ = path
    sys.modules["agent"] = module
    exec(code, module.__dict__)
    if callable(getattr(module, "act", None)):
        return module
    cls = getattr(module, "Agent", None)
    if cls is None:
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == "agent" and hasattr(value, "act"):
                cls = value
                break
    if cls is None:
        raise ImportError(
            f"{entrypoint} defines neither act(observation, context) nor an Agent class"
        )
    return cls()


class KaggleStruct(dict):  # type: ignore[type-arg]  # any JSON value
    """A dict whose keys read and write as attributes too, like Kaggle's ``Struct``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


KAGGLE_CONFIG_KEYS = ("rows", "columns", "inarow")
"""Wire observation fields that Kaggle puts in ``configuration``, not ``observation``."""
KAGGLE_EPISODE_STEPS = 1000  # Kaggle's default; our scenarios end by their own rules


def kaggle_structify(value: Any) -> Any:
    """Turn nested dicts into :class:`KaggleStruct` (lists are copied, items converted)."""
    if isinstance(value, dict):
        return KaggleStruct({key: kaggle_structify(item) for key, item in value.items()})
    if isinstance(value, list):
        return [kaggle_structify(item) for item in value]
    return value


def kaggle_inputs(
    observation: Any,
    step: int,
    bank_ms: float,
    config: dict[str, Any],
    limits: dict[str, Any],
) -> tuple[Any, KaggleStruct]:
    """Kaggle's ``(observation, configuration)`` for a wire observation.

    Args:
        observation: The wire observation (a dict for ``connect_four``).
        step: The move number (``context.step``).
        bank_ms: What is left of the episode's overage bank, in milliseconds.
        config: The episode's match options (the ``reset`` config).
        limits: The ``hello`` limits (``move_ms``, ``overage_ms``).

    Returns:
        ``observation`` with ``step`` and ``remainingOverageTime`` added (and the board
        shape moved out), and ``configuration`` with the board shape and time limits.

    """
    act_timeout = limits.get("move_ms", 200) / 1000
    configuration = kaggle_structify(config)
    configuration.update(
        actTimeout=act_timeout,
        timeout=act_timeout,
        agentTimeout=limits.get("overage_ms", 0) / 1000,
        episodeSteps=KAGGLE_EPISODE_STEPS,
    )
    if not isinstance(observation, dict):
        return kaggle_structify(observation), configuration
    kaggle_observation = kaggle_structify(observation)
    for key in KAGGLE_CONFIG_KEYS:
        if key in kaggle_observation:
            configuration[key] = kaggle_observation.pop(key)
    kaggle_observation.update(step=step, remainingOverageTime=bank_ms / 1000)
    return kaggle_observation, configuration


def kaggle_action(value: Any) -> Any:
    """Coerce what a Kaggle agent returned into the action sent to the host.

    An int stays; a float with an integral value and an object with ``__index__``
    (NumPy integers) become ints. Everything else is sent as it is, for the scenario to
    reject (``invalid_action``): bools, other floats, strings, None, lists, dicts;
    what JSON cannot carry (NaN, infinities, other objects) is sent as its ``repr``.
    """
    if type(value) is int or value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        return value if value - value == 0 else repr(value)  # NaN and infinities fail
    if isinstance(value, (list, dict)):
        return value
    index = getattr(type(value), "__index__", None)
    if index is not None:
        try:
            return int(index(value))
        except Exception:  # noqa: S110 - a broken __index__ is just not an int
            pass
    return repr(value)


class KaggleAgent:
    """A Kaggle submission played through the native interface (``--adapter=kaggle``).

    The entry point is executed afresh for every episode, as Kaggle does, in a module
    named ``agent``, and the ``random`` module is seeded from the episode's seed; the agent is its function ``agent`` if it has one, else the last
    callable it defines (Kaggle's rule). It is called with as many of ``(observation,
    configuration)`` as its code takes, as Kaggle does.

    Args:
        path: The entry point's path.
        limits: The ``hello`` limits (``move_ms``, ``overage_ms``).
        module_name: The name the entry point's module gets in ``sys.modules``.

    Raises:
        ImportError: The entry point defines no callable.

    """

    def __init__(self, path: str, limits: dict[str, Any], module_name: str = "agent") -> None:
        with open(path, "rb") as handle:
            self._code = compile(handle.read(), path, "exec")
        self._path = path
        self._module_name = module_name
        self._limits = limits
        self._config: dict[str, Any] = {}
        self._played = False
        self._load()

    def _load(self) -> None:
        module = type(sys)(self._module_name)
        module.__file__ = self._path
        sys.modules[self._module_name] = module
        exec(self._code, module.__dict__)
        function = module.__dict__.get("agent")
        if not callable(function):
            found = [value for value in vars(module).values() if callable(value)]
            if not found:
                raise ImportError(
                    f"{os.path.basename(self._path)} defines no callable: a Kaggle "
                    "submission defines agent(observation, configuration)"
                )
            function = found[-1]
        code = getattr(function, "__code__", None)
        self._argc = 2
        if code is not None and not code.co_flags & 0x04:  # 0x04: CO_VARARGS
            self._argc = code.co_argcount
        self._function = function

    def reset(self, config: Any, context: Any) -> None:
        """Start an episode: fresh module globals (after the first), seeded ``random``.

        Kaggle agents draw from the global ``random`` module (and ``numpy.random``)
        unseeded; seeding both from ``context.rng`` makes a match reproducible.
        """
        if self._played:
            self._played = False
            self._load()
        self._config = dict(config) if isinstance(config, dict) else {}
        seed = context.rng.getrandbits(32)
        random.seed(seed)
        numpy_random = getattr(sys.modules.get("numpy"), "random", None)
        if numpy_random is not None:
            numpy_random.seed(seed)

    def act(self, observation: Any, context: Any) -> Any:
        """Call the Kaggle agent with Kaggle's inputs and coerce its answer."""
        self._played = True
        inputs = kaggle_inputs(
            observation, context.step, context._bank_ms, self._config, self._limits
        )
        return kaggle_action(self._function(*inputs[: self._argc]))


def _fault_kind(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "limit_exceeded"
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return "limit_exceeded"  # pthread_create hit the pids limit
    if isinstance(exc, OSError) and exc.errno in LIMIT_ERRNOS:
        return "limit_exceeded"
    return "exception"


def _report(step: int, exc: BaseException) -> None:
    try:
        import traceback  # only on the error path: it costs ~8 ms to import

        text = "".join(traceback.format_exception(exc))[-MAX_LOG_CHARS:]
    except Exception:  # no fds or memory left to import with: report what we have
        text = repr(exc)[-MAX_LOG_CHARS:]
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
    for line in _lines():
        message = _loads(line)
        kind = message["type"]
        if kind == "observe":
            assert context is not None
            context.step = step = message["step"]
            context.legal_actions = message.get("legal_actions")
            context._bank_ms = bank_ms = message.get("time_bank_ms", 0)
            context._deadline = time.monotonic() + (message["deadline_ms"] + bank_ms) / 1000.0
            try:
                if reset_error is not None:
                    pending, reset_error = reset_error, None
                    raise pending
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
                    send(
                        {
                            "type": "log",
                            "step": -1,
                            "message": f"{name} raised: {exc!r}"[:MAX_LOG_CHARS],
                        }
                    )
        elif kind == "bye":
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
