"""The genome: an agent manifest's ``[parameters]`` space as a flat vector of floats.

Each parameter is one gene, in the manifest's order:

- ``float``: the value itself, or its natural logarithm when the parameter has
  ``log = true`` (so mutation steps are relative); bounds ``[low, high]`` (or their logs).
  A log-scale value decodes to 12 significant digits, so a default comes back exactly.
- ``int``: the same, rounded to the nearest integer and clipped when decoded.
- ``bool``: ``0.0`` (false) or ``1.0`` (true); a gene of at least ``0.5`` decodes to true.
- ``choice``: the index of the choice in ``choices``, rounded and clipped when decoded.

A vector in this form is what DEAP's operators vary (see :mod:`devspark.evolution.operators`);
:meth:`GenomeSpace.decode` turns any vector back into the ``dict`` an agent plays with, and
:meth:`GenomeSpace.repair` snaps a varied vector back onto valid values (bounds and types),
so ``repair(genes) == encode(decode(genes))``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import TypeAdapter, ValidationError

from devspark.core.errors import InvalidArgumentError, did_you_mean
from devspark.core.manifest import (
    AgentManifest,
    BoolParam,
    ChoiceParam,
    FloatParam,
    IntParam,
    Parameter,
)

ParamValue = str | int | float | bool
"""A decoded parameter value, as the agent receives it."""
Genes = tuple[float, ...]
"""A genome in its flat form: one float per parameter, in the space's order."""
Rng = random.Random | np.random.Generator
"""Either random source may drive :meth:`GenomeSpace.sample`."""
GeneKind = Literal["float", "int", "bool", "choice"]

_PARAMETERS: TypeAdapter[dict[str, Parameter]] = TypeAdapter(dict[str, Parameter])


@dataclass(frozen=True)
class Gene:
    """One parameter as a gene: its kind, its bounds in gene space, and how to decode it.

    Attributes:
        name: The parameter's name in ``[parameters]``.
        kind: ``float``, ``int``, ``bool`` or ``choice``.
        low: The gene's lowest value (the log of the parameter's for a log-scale one).
        high: The gene's highest value.
        log: Whether the gene holds the logarithm of the value.
        choices: The choices of a ``choice`` parameter (empty for the others).
        default: The parameter's default value.
        bounds: The parameter's own ``(low, high)`` (not the logs); ``(low, high)`` of the
            gene for ``bool`` and ``choice``.

    """

    name: str
    kind: GeneKind
    low: float
    high: float
    log: bool
    choices: tuple[ParamValue, ...]
    default: ParamValue
    bounds: tuple[float, float]

    @property
    def numeric(self) -> bool:
        """Whether the gene is ordered (``float`` or ``int``), so real-valued operators suit it."""
        return self.kind in ("float", "int")

    @property
    def fixed(self) -> bool:
        """Whether the gene can hold one value only (``low == high``)."""
        return self.low == self.high

    def decode(self, gene: float) -> ParamValue:
        """The parameter value a gene stands for; out-of-range genes are clipped first."""
        x = min(max(float(gene), self.low), self.high)
        if self.kind == "bool":
            return x >= 0.5
        if self.kind == "choice":
            return self.choices[round(x)]
        # exp(log(v)) is v to within a few ulps; 12 significant digits give v back exactly.
        value = float(f"{math.exp(x):.12g}") if self.log else x
        low, high = self.bounds
        if self.kind == "int":
            return int(min(max(round(value), round(low)), round(high)))
        return min(max(value, low), high)

    def encode(self, value: ParamValue) -> float:
        """The gene of a valid value (see :meth:`check`)."""
        if self.kind == "bool":
            return 1.0 if value else 0.0
        if self.kind == "choice":
            return float(_choice_index(self.choices, value))
        assert isinstance(value, int | float)
        return math.log(value) if self.log else float(value)

    def check(self, value: object) -> ParamValue:
        """Return ``value`` if the parameter accepts it.

        Raises:
            InvalidArgumentError: naming the parameter, the value and what is allowed.

        """
        if self.kind == "choice":
            if _choice_index(self.choices, value) < 0:
                self._refuse(value, "not one of the choices")
            assert isinstance(value, str | int | float | bool)
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                self._refuse(value, "not a boolean")
            assert isinstance(value, bool)
            return value
        if self.kind == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                self._refuse(value, "not an integer")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            self._refuse(value, "not a number")
        assert isinstance(value, int | float)
        low, high = self.bounds
        if not math.isfinite(value):
            self._refuse(value, "not a finite number")
        if not low <= value <= high:
            self._refuse(value, "out of range")
        return float(value) if self.kind == "float" else value

    def repair(self, gene: float) -> float:
        """The nearest valid gene: clipped to the bounds, whole for integers and choices."""
        if self.kind == "float" and not self.log:
            return min(max(float(gene), self.low), self.high)
        return self.encode(self.decode(gene))

    def draw(self, rng: Rng) -> float:
        """A gene drawn uniformly in gene space, not yet repaired.

        Whole-valued genes (choices, bools, linear ints) are drawn half a step past each
        bound, so every value is equally likely once rounded.
        """
        low, high = self.low, self.high
        if self.kind in ("bool", "choice") or (self.kind == "int" and not self.log):
            low, high = low - 0.5, high + 0.5
        if low == high:
            return low
        if isinstance(rng, random.Random):
            return rng.uniform(low, high)
        return float(rng.uniform(low, high))

    def allowed(self) -> str:
        """What the parameter accepts, in words (error messages quote it)."""
        if self.kind == "choice":
            return f"one of {list(self.choices)!r}"
        if self.kind == "bool":
            return "true or false"
        low, high = self.bounds
        noun = "an integer" if self.kind == "int" else "a number"
        if self.kind == "int":
            low, high = round(low), round(high)
        return f"{noun} in [{low!r}, {high!r}]"

    def _refuse(self, value: object, why: str) -> None:
        raise InvalidArgumentError(
            f"parameter {self.name!r} = {value!r}: {why}; allowed: {self.allowed()}"
        )


def _choice_index(choices: Sequence[ParamValue], value: object) -> int:
    """The index of ``value`` in ``choices`` (type and value equal: ``1`` is not ``True``)."""
    for index, choice in enumerate(choices):
        if type(choice) is type(value) and choice == value:
            return index
    return -1


def _gene(name: str, spec: Parameter) -> Gene:
    if isinstance(spec, BoolParam):
        return Gene(name, "bool", 0.0, 1.0, False, (), spec.default, (0.0, 1.0))
    if isinstance(spec, ChoiceParam):
        high = float(len(spec.choices) - 1)
        choices = tuple(spec.choices)
        return Gene(name, "choice", 0.0, high, False, choices, spec.default, (0.0, high))
    assert isinstance(spec, FloatParam | IntParam)
    bounds = low, high = float(spec.low), float(spec.high)
    if spec.log:
        if low <= 0:
            raise InvalidArgumentError(
                f"parameter {name!r}: log = true needs low > 0, got low = {spec.low!r}"
            )
        low, high = math.log(low), math.log(high)
    return Gene(name, spec.type, low, high, spec.log, (), spec.default, bounds)


class GenomeSpace:
    """The genomes of one parameter space: encode, decode, validate, repair and sample them.

    Args:
        parameters: The manifest's ``[parameters]`` (name to parameter spec), in order.

    Raises:
        InvalidArgumentError: A log-scale parameter has ``low <= 0``.

    Example:
        >>> from devspark.core.manifest import FloatParam, IntParam
        >>> space = GenomeSpace({
        ...     "weight": FloatParam(type="float", low=0.0, high=1.0, default=0.5),
        ...     "depth": IntParam(type="int", low=1, high=6, default=2),
        ... })
        >>> space.decode((0.25, 4.4))
        {'weight': 0.25, 'depth': 4}

    """

    def __init__(self, parameters: Mapping[str, Parameter]) -> None:
        self.parameters: dict[str, Parameter] = dict(parameters)
        self.genes: tuple[Gene, ...] = tuple(_gene(n, s) for n, s in self.parameters.items())
        self.names: tuple[str, ...] = tuple(gene.name for gene in self.genes)
        self.lows: Genes = tuple(gene.low for gene in self.genes)
        self.highs: Genes = tuple(gene.high for gene in self.genes)

    @classmethod
    def from_manifest(cls, manifest: AgentManifest) -> GenomeSpace:
        """The space of an agent's ``[parameters]``."""
        return cls(manifest.parameters)

    @classmethod
    def from_json(cls, data: Any) -> GenomeSpace:
        """The space :meth:`to_json` wrote (parameters as in ``agent.toml``).

        Raises:
            InvalidArgumentError: The data is not a valid ``[parameters]`` table.

        """
        try:
            return cls(_PARAMETERS.validate_python(data))
        except ValidationError as exc:
            raise InvalidArgumentError(f"parameter space: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        """The parameters as JSON-ready data (what ``[parameters]`` holds)."""
        return {name: spec.model_dump() for name, spec in self.parameters.items()}

    def __len__(self) -> int:
        return len(self.genes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GenomeSpace) and self.parameters == other.parameters

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container, compared by value

    def __repr__(self) -> str:
        return f"GenomeSpace({', '.join(f'{g.name}:{g.kind}' for g in self.genes)})"

    def defaults(self) -> dict[str, ParamValue]:
        """Every parameter's default value."""
        return {gene.name: gene.default for gene in self.genes}

    def validate(self, values: Mapping[str, object]) -> dict[str, ParamValue]:
        """Check parameter values; missing parameters take their defaults.

        Returns:
            The complete values, in the space's order (floats as ``float``).

        Raises:
            InvalidArgumentError: An unknown name (with the nearest known one), or a value
                of the wrong type or out of range (naming the parameter, the value and
                what is allowed).

        """
        for name in values:
            if name not in self.names:
                known = ", ".join(self.names) or "none"
                raise InvalidArgumentError(
                    f"unknown parameter {name!r}{did_you_mean(str(name), self.names)}; "
                    f"known parameters: {known}"
                )
        return {
            gene.name: gene.check(values[gene.name]) if gene.name in values else gene.default
            for gene in self.genes
        }

    def encode(self, values: Mapping[str, object]) -> Genes:
        """The genes of parameter values (validated first, see :meth:`validate`)."""
        checked = self.validate(values)
        return tuple(gene.encode(checked[gene.name]) for gene in self.genes)

    def decode(self, genes: Sequence[float]) -> dict[str, ParamValue]:
        """The parameter values of a genome; any finite vector decodes (clipped, rounded).

        Raises:
            InvalidArgumentError: The vector has the wrong length or a non-finite gene.

        """
        self.check_genes(genes)
        return {gene.name: gene.decode(x) for gene, x in zip(self.genes, genes, strict=True)}

    def repair(self, genes: Sequence[float]) -> Genes:
        """Snap a genome onto valid values: within bounds, integers and choices whole."""
        self.check_genes(genes)
        return tuple(gene.repair(x) for gene, x in zip(self.genes, genes, strict=True))

    def check_genes(self, genes: Sequence[float]) -> None:
        """Refuse a vector of the wrong length or with a NaN or infinite gene.

        Raises:
            InvalidArgumentError: naming the gene (parameter) and the bad value.

        """
        if len(genes) != len(self.genes):
            raise InvalidArgumentError(
                f"genome has {len(genes)} genes; allowed: {len(self.genes)} "
                f"(one per parameter: {', '.join(self.names) or 'none'})"
            )
        for gene, x in zip(self.genes, genes, strict=True):
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                raise InvalidArgumentError(
                    f"gene {gene.name!r} = {x!r}: not a finite number; allowed: a number "
                    f"in [{gene.low!r}, {gene.high!r}]"
                )

    def default_genes(self) -> Genes:
        """The genome of the default values."""
        return tuple(gene.encode(gene.default) for gene in self.genes)

    def sample(self, rng: Rng) -> Genes:
        """A genome drawn uniformly (log-uniformly for log-scale parameters).

        Args:
            rng: A seeded ``random.Random`` or ``numpy.random.Generator``; the draw depends
                only on its state.

        """
        return tuple(gene.repair(gene.draw(rng)) for gene in self.genes)
