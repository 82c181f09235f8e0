"""The Kaggle adapter: a Kaggle submission played through the native agent interface.

Runs inside the sandbox (loaded by ``runner.py`` for ``--adapter=kaggle`` only) and
in-process at the ``trusted`` level; standard library only. See docs/kaggle.md.
"""

from __future__ import annotations

import os
import random
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


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
