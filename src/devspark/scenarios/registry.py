"""The scenario registry: register, resolve and make scenarios by id.

Ids are ``name`` (the latest registered version) or ``name-vN`` (that version), e.g.
``"tictactoe"`` or ``"tictactoe-v1"``. Built-in scenarios register themselves with the
:func:`register` decorator when :mod:`devspark.scenarios` is imported; third-party
packages declare entry points in the group ``devspark.plugins``, loaded lazily on the
first lookup. An entry point loads either a scenario class (a subclass of
:class:`~devspark.scenarios.base.Scenario` or
:class:`~devspark.scenarios.parallel.ParallelScenario`, registered for you) or a
callable that registers its scenarios itself::

    [project.entry-points."devspark.plugins"]
    connect_four = "acme_games.connect_four:ConnectFour"
"""

from __future__ import annotations

import difflib
import inspect
import re
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

from devspark.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from devspark.scenarios.base import Scenario, ScenarioCore
from devspark.scenarios.parallel import ParallelScenario

PLUGIN_GROUP = "devspark.plugins"
"""The entry-point group scanned for third-party scenarios."""

_ID = re.compile(r"(?P<name>[a-z][a-z0-9_]*)(?:-v(?P<version>[0-9]+))?")

AnyScenario = Scenario | ParallelScenario
"""A turn-based or a simultaneous-move scenario."""

ScenarioT = TypeVar("ScenarioT", bound=type[Scenario] | type[ParallelScenario])


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    """What the registry knows about one scenario version.

    Attributes:
        id: Scenario id without version, e.g. ``"tictactoe"``.
        version: Version number.
        domains: Declared domains.
        players: ``(min, max)`` number of agents.
        difficulties: Accepted difficulty levels.
        parallel: Simultaneous moves (PettingZoo Parallel API) rather than turns.

    """

    id: str
    version: int
    domains: tuple[str, ...]
    players: tuple[int, int]
    difficulties: tuple[int, ...]
    parallel: bool = False

    @property
    def full_id(self) -> str:
        """Versioned id, e.g. ``"tictactoe-v1"``."""
        return f"{self.id}-v{self.version}"


class ScenarioRegistry:
    """A set of scenario classes by id and version.

    The module-level functions use one shared instance; tests build their own.

    Args:
        plugin_group: Entry-point group to load lazily, or ``None`` for no plugins.

    """

    def __init__(self, plugin_group: str | None = PLUGIN_GROUP) -> None:
        self._classes: dict[str, dict[int, type[AnyScenario]]] = {}
        self._plugin_group = plugin_group
        self._plugins_loaded = plugin_group is None
        self._lock = threading.RLock()

    def register(self, cls: ScenarioT) -> ScenarioT:
        """Register a scenario class under its ``full_id`` (usable as a decorator).

        Registering the same class twice is a no-op; a class with the same module and
        qualified name replaces the old one (a reloaded module).

        Args:
            cls: A concrete :class:`Scenario` subclass.

        Returns:
            ``cls`` unchanged.

        Raises:
            InvalidArgumentError: ``cls`` is not a concrete Scenario subclass.
            ConflictError: Another class is registered under the same id and version.

        """
        if not (isinstance(cls, type) and issubclass(cls, (Scenario, ParallelScenario))):
            raise InvalidArgumentError(
                f"cls={cls!r} is not a Scenario or ParallelScenario subclass"
            )
        if inspect.isabstract(cls) or "scenario_id" not in _declared(cls):
            raise InvalidArgumentError(
                f"cls={cls.__qualname__} is abstract or declares no scenario_id"
            )
        with self._lock:
            versions = self._classes.setdefault(cls.scenario_id, {})
            old = versions.get(cls.version)
            if old is not None and old is not cls and _origin(old) != _origin(cls):
                raise ConflictError(
                    f"Scenario {cls.full_id!r} is already registered by "
                    f"{_origin(old)}; cannot register {_origin(cls)}"
                )
            versions[cls.version] = cls
        return cls

    def resolve(self, scenario_id: str) -> type[AnyScenario]:
        """Find the class of ``scenario_id``.

        Args:
            scenario_id: ``"name"`` (latest version), ``"name-vN"``, or a PettingZoo
                environment ``"pettingzoo:FAMILY/MODULE"`` (wrapped on first use).

        Returns:
            The registered class.

        Raises:
            InvalidArgumentError: ``scenario_id`` is not a string.
            NotFoundError: No such scenario or version; the message suggests near names.

        """
        if not isinstance(scenario_id, str):
            raise InvalidArgumentError(f"scenario_id={scenario_id!r} must be a str")
        if scenario_id.startswith("pettingzoo:"):
            from devspark.scenarios.pettingzoo_env import scenario_class

            return scenario_class(scenario_id)
        self._load_plugins()
        match = _ID.fullmatch(scenario_id)
        versions = self._classes.get(match["name"]) if match else None
        if match is None or not versions:
            raise NotFoundError(self._unknown_message(scenario_id))
        if match["version"] is None:
            return versions[max(versions)]
        cls = versions.get(int(match["version"]))
        if cls is None:
            available = ", ".join(repr(c.full_id) for _, c in sorted(versions.items()))
            raise NotFoundError(
                f"Scenario {match['name']!r} has no version {int(match['version'])}; "
                f"available: {available}"
            )
        return cls

    def make(self, scenario_id: str, **options: Any) -> AnyScenario:
        """Build a scenario by id.

        Args:
            scenario_id: ``"name"`` or ``"name-vN"``.
            **options: Constructor arguments: ``render_mode`` and defaults for
                :meth:`Scenario.reset` options (e.g. ``difficulty=3``).

        Returns:
            A new scenario; call :meth:`Scenario.reset` before use.

        Raises:
            NotFoundError: Unknown id.
            InvalidArgumentError: An option is out of range.

        """
        return self.resolve(scenario_id)(**options)

    def list_scenarios(self) -> list[ScenarioInfo]:
        """Every registered scenario version, sorted by id then version.

        Returns:
            One :class:`ScenarioInfo` per registered version.

        """
        self._load_plugins()
        with self._lock:
            classes = [c for _, v in sorted(self._classes.items()) for _, c in sorted(v.items())]
        return [
            ScenarioInfo(
                id=c.scenario_id,
                version=c.version,
                domains=tuple(c.domains),
                players=(c.players[0], c.players[1]),
                difficulties=tuple(c.difficulties),
                parallel=c.parallel,
            )
            for c in classes
        ]

    def _unknown_message(self, scenario_id: str) -> str:
        with self._lock:
            names = sorted(self._classes)
            full_ids = sorted(c.full_id for v in self._classes.values() for c in v.values())
        candidates = full_ids if "-" in scenario_id else names
        close = difflib.get_close_matches(scenario_id, candidates, n=3)
        message = f"Unknown scenario {scenario_id!r}."
        if close:
            return f"{message} Did you mean {' or '.join(repr(c) for c in close)}?"
        return f"{message} Available: {', '.join(names) or 'none'}."

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        with self._lock:
            if self._plugins_loaded:
                return
            self._plugins_loaded = True
            if self._plugin_group is None:
                return
            for entry_point in _entry_points(self._plugin_group):
                self._load_plugin(entry_point)

    def _load_plugin(self, entry_point: metadata.EntryPoint) -> None:
        """Load one plugin; a broken plugin warns instead of breaking the registry."""
        try:
            loaded = entry_point.load()
            if isinstance(loaded, type) and issubclass(loaded, (Scenario, ParallelScenario)):
                self.register(loaded)
            elif callable(loaded):
                loaded()
            else:
                raise InvalidArgumentError(
                    f"{entry_point.value} is neither a Scenario subclass nor a callable"
                )
        except Exception as exc:  # a third-party plugin may fail in any way
            warnings.warn(
                f"Could not load devspark plugin {entry_point.name!r} "
                f"({entry_point.value}): {type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=4,
            )


def _entry_points(group: str) -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=group)


def _declared(cls: type) -> set[str]:
    """Names declared in the class bodies of ``cls`` and its bases below Scenario."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass in (Scenario, ParallelScenario, ScenarioCore):
            break
        names.update(vars(klass))
    return names


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_default = ScenarioRegistry()


def register(cls: ScenarioT) -> ScenarioT:
    """Register a scenario class in the default registry (usable as a decorator).

    Args:
        cls: A concrete :class:`~devspark.scenarios.base.Scenario` subclass.

    Returns:
        ``cls`` unchanged.

    Raises:
        InvalidArgumentError: ``cls`` is not a concrete Scenario subclass.
        ConflictError: Another class is registered under the same id and version.

    """
    return _default.register(cls)


def resolve(scenario_id: str) -> type[AnyScenario]:
    """Find a scenario class by id in the default registry.

    Args:
        scenario_id: ``"tictactoe"`` (latest version) or ``"tictactoe-v1"``.

    Returns:
        The registered class.

    Raises:
        InvalidArgumentError: ``scenario_id`` is not a string.
        NotFoundError: No such scenario or version; the message suggests near names.

    """
    return _default.resolve(scenario_id)


def make(scenario_id: str, **options: Any) -> AnyScenario:
    """Build a scenario by id from the default registry.

    Args:
        scenario_id: ``"tictactoe"`` or ``"tictactoe-v1"``.
        **options: ``render_mode`` and defaults for reset options (e.g. ``difficulty``).

    Returns:
        A new scenario; call ``reset()`` before use.

    Raises:
        NotFoundError: Unknown id.
        InvalidArgumentError: An option is out of range.

    """
    return _default.make(scenario_id, **options)


def describe(cls: type[ScenarioCore]) -> str:
    """A scenario's documentation page: its module's docstring, else its class's.

    The page holds the rules, observation, actions and rewards
    (``devspark scenarios show`` prints it; the API serves it).
    """
    module = inspect.getmodule(cls)
    doc = inspect.getdoc(module) if module is not None else None
    return doc or inspect.getdoc(cls) or f"{cls.full_id}: no documentation"


def list_scenarios() -> list[ScenarioInfo]:
    """Every scenario version in the default registry, sorted by id then version.

    Returns:
        One :class:`ScenarioInfo` per registered version.

    """
    return _default.list_scenarios()
