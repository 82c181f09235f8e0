"""Individuals and their lineage: who made whom, with which operators, and how they scored.

A :class:`Lineage` holds every individual of a run by id; it answers an individual's
parents and ancestors, and saves to and loads from JSON lines (one individual a line).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from devspark.core.errors import ConflictError, InvalidArgumentError, NotFoundError, did_you_mean
from devspark.evolution.genome import Genes, ParamValue


@dataclass(frozen=True)
class Individual:
    """One genome of a run, with where it came from and how it scored.

    Attributes:
        id: Unique within the run (the engine writes ``g{generation}-{index}``).
        generation: The generation it was made for (0: the initial population).
        genes: The genome in flat form (see :class:`~devspark.evolution.genome.GenomeSpace`).
        params: The parameter values the agent plays with (the genes decoded).
        parents: The ids of its parents (none for the initial population).
        operators: What made it, in order: ``init`` or ``seed`` for the initial
            population, else the selection, ``crossover:NAME`` when its parents were
            crossed, and ``mutation:NAME``.
        fitness: The mean of its evaluations; None until evaluated. Higher is better.
        evaluations: How many fitness values the mean is over.
        novelty: Its novelty score; None until measured.

    """

    id: str
    generation: int
    genes: Genes
    params: dict[str, ParamValue]
    parents: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    fitness: float | None = None
    evaluations: int = 0
    novelty: float | None = None

    def evaluated(self, fitness: float, novelty: float | None = None) -> Individual:
        """A copy with one more evaluation folded into the mean fitness.

        Raises:
            InvalidArgumentError: The fitness (or novelty) is not a finite number.

        """
        _check_score(self.id, "fitness", fitness)
        if novelty is not None:
            _check_score(self.id, "novelty", novelty)
        count = self.evaluations + 1
        mean = float(fitness) if self.fitness is None else self.fitness
        mean += (float(fitness) - mean) / count
        kept = self.novelty if novelty is None else float(novelty)
        return replace(self, fitness=mean, evaluations=count, novelty=kept)

    def to_json(self) -> dict[str, Any]:
        """The individual as JSON-ready data (floats round-trip exactly)."""
        return {
            "id": self.id,
            "generation": self.generation,
            "genes": list(self.genes),
            "params": dict(self.params),
            "parents": list(self.parents),
            "operators": list(self.operators),
            "fitness": self.fitness,
            "evaluations": self.evaluations,
            "novelty": self.novelty,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Individual:
        """The individual :meth:`to_json` wrote.

        Raises:
            InvalidArgumentError: A field is missing or has the wrong type.

        """
        try:
            fitness, novelty = data["fitness"], data["novelty"]
            return cls(
                id=str(data["id"]),
                generation=int(data["generation"]),
                genes=tuple(float(x) for x in data["genes"]),
                params=dict(data["params"]),
                parents=tuple(str(p) for p in data["parents"]),
                operators=tuple(str(o) for o in data["operators"]),
                fitness=None if fitness is None else float(fitness),
                evaluations=int(data["evaluations"]),
                novelty=None if novelty is None else float(novelty),
            )
        except KeyError as exc:
            raise InvalidArgumentError(f"individual: field {exc.args[0]!r} is required") from None
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"individual {data.get('id')!r}: {exc}") from None


def fitness_key(individual: Individual) -> float:
    """Sort key by fitness: the fitness, or minus infinity while not evaluated."""
    return -math.inf if individual.fitness is None else individual.fitness


def _check_score(ident: str, what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(
            f"individual {ident!r}: {what} = {value!r}; allowed: a finite number"
        )


class Lineage:
    """Every individual of a run by id, in the order they were added.

    Args:
        individuals: Individuals to start with (ids must be unique).

    """

    def __init__(self, individuals: Iterable[Individual] = ()) -> None:
        self._by_id: dict[str, Individual] = {}
        for individual in individuals:
            self.add(individual)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Individual]:
        return iter(self._by_id.values())

    def __contains__(self, ident: object) -> bool:
        return ident in self._by_id

    def add(self, individual: Individual) -> None:
        """Record a new individual.

        Raises:
            ConflictError: Its id is already recorded.

        """
        if individual.id in self._by_id:
            raise ConflictError(f"individual {individual.id!r} is already in the lineage")
        self._by_id[individual.id] = individual

    def update(self, individual: Individual) -> None:
        """Replace the record of an individual (after an evaluation, say).

        Raises:
            NotFoundError: Its id is not recorded.

        """
        self.get(individual.id)
        self._by_id[individual.id] = individual

    def get(self, ident: str) -> Individual:
        """The individual with this id.

        Raises:
            NotFoundError: No such id (with the nearest recorded ones).

        """
        found = self._by_id.get(ident)
        if found is None:
            raise NotFoundError(
                f"individual {ident!r} is not in the lineage{did_you_mean(ident, self._by_id)}"
            )
        return found

    def parents(self, ident: str) -> list[Individual]:
        """The recorded parents of an individual, in the order it names them."""
        return [self._by_id[p] for p in self.get(ident).parents if p in self._by_id]

    def ancestors(self, ident: str) -> list[Individual]:
        """Every recorded ancestor of an individual, nearest first, each once.

        Raises:
            NotFoundError: No such id.

        """
        seen = {ident}
        found: list[Individual] = []
        frontier = [self.get(ident)]
        while frontier:
            following: list[Individual] = []
            for individual in frontier:
                for parent in self.parents(individual.id):
                    if parent.id not in seen:
                        seen.add(parent.id)
                        found.append(parent)
                        following.append(parent)
            frontier = following
        return found

    def best(self) -> Individual | None:
        """The evaluated individual with the highest fitness (the first one on ties)."""
        scored = [i for i in self._by_id.values() if i.fitness is not None]
        return max(scored, key=fitness_key) if scored else None

    def to_json(self) -> list[dict[str, Any]]:
        """Every individual as JSON-ready data, in order."""
        return [individual.to_json() for individual in self._by_id.values()]

    @classmethod
    def from_json(cls, data: Iterable[Mapping[str, Any]]) -> Lineage:
        """The lineage :meth:`to_json` wrote."""
        return cls(Individual.from_json(item) for item in data)

    def save(self, path: Path) -> None:
        """Write the lineage as JSON lines, one individual a line (replacing the file)."""
        lines = (json.dumps(item, separators=(",", ":")) + "\n" for item in self.to_json())
        path.write_text("".join(lines), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Lineage:
        """Read a lineage that :meth:`save` wrote.

        Raises:
            InvalidArgumentError: A line is not JSON or not an individual (naming the line).
            ConflictError: An id appears twice.

        """
        lineage = cls()
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if not isinstance(data, dict):
                        raise InvalidArgumentError("not a JSON object")
                    lineage.add(Individual.from_json(data))
                except (json.JSONDecodeError, InvalidArgumentError) as exc:
                    raise InvalidArgumentError(f"{path}:{number}: {exc}") from None
        return lineage
