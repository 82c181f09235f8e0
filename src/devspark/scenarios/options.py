"""The reset options a scenario accepts, and the check every entry point runs on them.

Each scenario class declares its reset options with :meth:`ScenarioCore.option_specs`
(every scenario has ``difficulty``; the iterated prisoner's dilemma adds ``rounds``,
the puzzles ``kind``; a PettingZoo environment named ``pettingzoo:FAMILY/MODULE`` has
``difficulty`` 1 only). :func:`check_options` validates a whole ``options`` object
against those specs: a key the scenario does not know is refused with the nearest known
key suggested (``dificulty``: did you mean ``difficulty``?), a value outside its range is
refused naming the option, the value and what is allowed, and an object larger than
:data:`MAX_OPTIONS_BYTES` once serialised is refused before anything else is read.

The same check runs when a match or tournament is created over the API
(:mod:`devspark.services.durable`) and whenever a scenario is reset (so ``devspark match
run`` and ``devspark tournament run`` refuse the same inputs).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devspark.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from devspark.scenarios.base import ScenarioCore

MAX_OPTIONS_BYTES = 16 * 1024
"""The largest ``options`` object accepted, in bytes of compact JSON."""


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One reset option: its name, type and allowed values.

    Attributes:
        name: The option's key, e.g. ``"difficulty"``.
        description: What it changes, for listings and error messages.
        kind: ``int`` or ``str``; ``bool`` never passes for ``int``.
        choices: The allowed values, or ``None`` for a range.
        minimum: Smallest allowed int (with ``choices=None``).
        maximum: Largest allowed int (with ``choices=None``).
        nullable: Whether ``null`` is accepted (meaning the scenario's default).

    """

    name: str
    description: str
    kind: type = int
    choices: tuple[Any, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    nullable: bool = False

    def allowed(self) -> str:
        """What this option accepts, in words (``"an int in 1-5"``)."""
        if self.choices is not None:
            values = list(self.choices)
            if self.kind is int and values == list(range(values[0], values[-1] + 1)):
                text = f"an int in {values[0]}-{values[-1]}" if len(values) > 1 else str(values[0])
            else:
                text = f"one of {values}"
        else:
            low = "" if self.minimum is None else str(self.minimum)
            high = "" if self.maximum is None else str(self.maximum)
            text = f"an int in {low}-{high}" if self.kind is int else f"a {self.kind.__name__}"
        return f"{text} or null" if self.nullable else text

    def check(self, value: Any, scenario: str, field: str = "options") -> Any:
        """Return ``value`` if it is allowed.

        Raises:
            InvalidArgumentError: Naming the option, the value and what is allowed.

        """
        if value is None and self.nullable:
            return value
        fits = type(value) is self.kind
        if fits and self.choices is not None:
            fits = value in self.choices
        if fits and self.kind is int:
            fits = (self.minimum is None or value >= self.minimum) and (
                self.maximum is None or value <= self.maximum
            )
        if not fits:
            raise InvalidArgumentError(
                f"{field}.{self.name}={_short(value)} is not allowed by {scenario}: "
                f"{self.name} must be {self.allowed()} ({self.description})"
            )
        return value


def difficulty_spec(difficulties: tuple[int, ...]) -> OptionSpec:
    """The ``difficulty`` option of a scenario with these levels."""
    return OptionSpec(
        "difficulty",
        "the difficulty level of the generated instance",
        choices=tuple(difficulties),
        nullable=True,
    )


def check_options(
    scenario: type[ScenarioCore], options: Mapping[str, Any] | None, field: str = "options"
) -> dict[str, Any]:
    """Validate reset options against a scenario's :meth:`option_specs`.

    Args:
        scenario: The scenario class.
        options: The options (``None``: none).
        field: The name of the options in the request, for error messages.

    Returns:
        A copy of ``options``.

    Raises:
        InvalidArgumentError: Not an object, larger than :data:`MAX_OPTIONS_BYTES`, an
            unknown key (with a "did you mean" for a near one) or a value out of range.

    """
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InvalidArgumentError(f"{field}={_short(options)} must be an object")
    _check_size(options, field)
    specs = {spec.name: spec for spec in scenario.option_specs()}
    checked: dict[str, Any] = {}
    for key, value in options.items():
        spec = specs.get(key)
        if spec is None:
            raise InvalidArgumentError(_unknown(str(key), scenario.full_id, sorted(specs), field))
        checked[key] = spec.check(value, scenario.full_id, field)
    return checked


def _check_size(options: Mapping[str, Any], field: str) -> None:
    try:
        size = len(json.dumps(options, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidArgumentError(f"{field} must be plain JSON: {exc}") from None
    if size > MAX_OPTIONS_BYTES:
        raise InvalidArgumentError(
            f"{field} is {size:,} bytes of JSON; at most {MAX_OPTIONS_BYTES:,} are accepted"
        )


def _unknown(key: str, scenario: str, known: list[str], field: str) -> str:
    message = f"{field}.{key[:60]} is not an option of {scenario}"
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if near:
        message += f": did you mean `{near[0]}`?"
    return f"{message} (its options: {', '.join(known) or 'none'})"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


__all__ = ["MAX_OPTIONS_BYTES", "OptionSpec", "check_options", "difficulty_spec"]
