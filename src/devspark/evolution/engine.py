"""A generational genetic algorithm driven by the caller: ask for genomes, tell fitness.

:class:`Evolution` breeds; the caller evaluates (matches, a synthetic objective, anything)::

    evolution = Evolution(space, population=16, seed=1, budget=200)
    while not evolution.done:
        batch = evolution.ask()
        evolution.tell({ind.id: evaluate(ind.params) for ind in batch})
    print(evolution.best)

Each generation: the ``elite`` fittest members carry over unchanged; the rest are children
of parents picked by the selection, crossed with probability ``crossover.rate`` and then
mutated. All randomness comes from one ``random.Random`` seeded with ``seed``, and
:meth:`Evolution.checkpoint` captures it with the rest of the state, so a run restored
from a checkpoint goes on exactly as the uninterrupted run would.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from devspark.core.errors import InvalidArgumentError, NotFoundError, did_you_mean
from devspark.evolution.genome import Genes, GenomeSpace
from devspark.evolution.lineage import Individual, Lineage
from devspark.evolution.operators import Crossover, Mutation, Selection, elite

CHECKPOINT_VERSION = 1
"""The ``version`` a checkpoint carries; :meth:`Evolution.restore` refuses others."""


@dataclass(frozen=True)
class GenerationStats:
    """Fitness figures of one generation, taken when its evaluations are all in.

    Attributes:
        generation: The generation's number (0: the initial population).
        best: The highest fitness among its members.
        mean: Their mean fitness.
        worst: The lowest.
        best_id: The id of the member with the highest fitness.
        evaluations: Evaluations told so far in the run, this generation's included.

    """

    generation: int
    best: float
    mean: float
    worst: float
    best_id: str
    evaluations: int


def _positive_int(field: str, value: object, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{field} = {value!r}: allowed: an integer >= {minimum}")
    return value


class Evolution:
    """A generational GA over a :class:`GenomeSpace`, with ask/tell evaluation.

    Args:
        space: The genomes evolved (an agent's ``[parameters]``).
        population: Members per generation.
        seed: Seeds every random draw of the run.
        mutation: A :class:`Mutation` or its name.
        crossover: A :class:`Crossover` or its name.
        selection: A :class:`Selection` or its name.
        elite: How many of the fittest carry over to the next generation unchanged.
        budget: At most this many evaluations (each told fitness counts); None: no limit.
        generations: At most this many generations (the initial one counts); None: no limit.
        initial: Parameter values that start in the initial population (missing ones take
            their defaults), e.g. ``[space.defaults()]``; random genomes fill the rest.
        reevaluate_elites: Ask for the elites again each generation, their fitness becoming
            the mean of all their evaluations (for noisy fitness such as match results).

    Raises:
        InvalidArgumentError: An empty space, an option out of range, an unknown operator
            name (with the nearest known one) or invalid initial values.

    """

    history: list[GenerationStats]
    """Fitness figures per generation, in order."""
    _members: list[str]
    _pending: list[str]

    def __init__(
        self,
        space: GenomeSpace,
        *,
        population: int = 16,
        seed: int = 0,
        mutation: Mutation | str = "gaussian",
        crossover: Crossover | str = "uniform",
        selection: Selection | str = "tournament",
        elite: int = 1,
        budget: int | None = None,
        generations: int | None = None,
        initial: Sequence[Mapping[str, object]] = (),
        reevaluate_elites: bool = False,
    ) -> None:
        self._configure(
            space, population=population, seed=seed, elite=elite, budget=budget,
            generations=generations, reevaluate_elites=reevaluate_elites,
            mutation=mutation if isinstance(mutation, Mutation) else Mutation(mutation),
            crossover=crossover if isinstance(crossover, Crossover) else Crossover(crossover),
            selection=selection if isinstance(selection, Selection) else Selection(selection),
        )  # fmt: skip
        if len(initial) > population:
            raise InvalidArgumentError(
                f"initial has {len(initial)} genomes; allowed: at most population = {population}"
            )
        first = [(self.space.encode(values), "seed") for values in initial]
        while len(first) < population:
            first.append((self.space.sample(self._rng), "init"))
        for index, (genes, operator) in enumerate(first):
            params = self.space.decode(genes)
            if operator == "seed":
                params = self.space.validate(initial[index])
            member = Individual(f"g0-{index}", 0, genes, params, operators=(operator,))
            self.lineage.add(member)
            self._members.append(member.id)
        self._pending = list(self._members)

    def _configure(
        self, space: GenomeSpace, *, population: int, seed: int, elite: int,
        budget: int | None, generations: int | None, reevaluate_elites: bool,
        mutation: Mutation, crossover: Crossover, selection: Selection,
    ) -> None:  # fmt: skip
        if len(space) == 0:
            raise InvalidArgumentError(
                "the parameter space is empty: an agent needs [parameters] to evolve"
            )
        self.space = space
        self.population = _positive_int("population", population, minimum=2)
        self.seed = _positive_int("seed", seed, minimum=0)
        self.elite = _positive_int("elite", elite, minimum=0)
        if elite >= population:
            raise InvalidArgumentError(
                f"elite = {elite!r}: allowed: an integer below population = {population}"
            )
        self.budget = None if budget is None else _positive_int("budget", budget)
        self.generations = (
            None if generations is None else _positive_int("generations", generations)
        )
        self.reevaluate_elites = bool(reevaluate_elites)
        self.mutation, self.crossover, self.selection = mutation, crossover, selection
        self._rng = random.Random(seed)
        self.lineage = Lineage()
        self.history = []
        self.generation = 0
        self.evaluations = 0
        self._members = []
        self._pending = []
        self._finished = False

    @property
    def done(self) -> bool:
        """Whether the run is over: the budget spent or the last generation evaluated."""
        spent = self.budget is not None and self.evaluations >= self.budget
        return self._finished or spent

    @property
    def best(self) -> Individual | None:
        """The fittest individual evaluated so far (None before any evaluation)."""
        return self.lineage.best()

    def members(self) -> list[Individual]:
        """The current generation's members (elites first after generation 0)."""
        return [self.lineage.get(ident) for ident in self._members]

    def ask(self) -> list[Individual]:
        """The individuals to evaluate next (the same ones until their fitness is told).

        Empty once :attr:`done`; fewer than the generation's when the budget is nearly
        spent.
        """
        if self.done:
            return []
        left = len(self._pending)
        if self.budget is not None:
            left = min(left, self.budget - self.evaluations)
        return [self.lineage.get(ident) for ident in self._pending[:left]]

    def tell(self, results: Mapping[str, float]) -> None:
        """Record fitness (higher is better) for individuals :meth:`ask` returned.

        When the whole generation is in, the next one is bred (unless the run is done).
        The results are checked first; on an error none of them is recorded.

        Raises:
            NotFoundError: An id that is not awaiting evaluation (with the nearest ones).
            InvalidArgumentError: A fitness that is not a finite number, or more results
                than the budget has left.

        """
        asked = {individual.id for individual in self.ask()}
        for ident, fitness in results.items():
            if ident not in asked:
                near = did_you_mean(str(ident), sorted(asked))
                raise NotFoundError(
                    f"individual {ident!r} is not awaiting evaluation{near} (ask() lists "
                    f"the {len(asked)} that are)"
                )
            if (
                isinstance(fitness, bool)
                or not isinstance(fitness, int | float)
                or not math.isfinite(fitness)
            ):
                raise InvalidArgumentError(
                    f"fitness of {ident!r} = {fitness!r}: allowed: a finite number"
                )
        for ident, fitness in results.items():
            self.lineage.update(self.lineage.get(ident).evaluated(float(fitness)))
            self._pending.remove(ident)
            self.evaluations += 1
        if not self._pending or self.done:
            self._close_generation()

    def _close_generation(self) -> None:
        evaluated = [m for m in self.members() if m.fitness is not None]
        if evaluated and not (self.history and self.history[-1].generation == self.generation):
            scores = [m.fitness for m in evaluated if m.fitness is not None]
            top = evaluated[scores.index(max(scores))]
            self.history.append(
                GenerationStats(
                    self.generation, max(scores), math.fsum(scores) / len(scores),
                    min(scores), top.id, self.evaluations,
                )
            )  # fmt: skip
        if self._pending:
            return
        if self.generations is not None and self.generation + 1 >= self.generations:
            self._finished = True
        if not self.done:
            self._breed()

    def _breed(self) -> None:
        members = self.members()
        fitnesses = [m.fitness if m.fitness is not None else -math.inf for m in members]
        elites = [members[i] for i in elite(fitnesses, self.elite)] if self.elite else []
        count = self.population - len(elites)
        generation = self.generation + 1
        picks = self.selection.select(fitnesses, 2 * math.ceil(count / 2), self._rng)
        children: list[Individual] = []
        for first, second in zip(picks[::2], picks[1::2], strict=True):
            a, b = members[first], members[second]
            operators: tuple[str, ...] = (self.selection.name,)
            lines: list[tuple[Genes, tuple[str, ...]]]
            if self._rng.random() < self.crossover.rate:
                genes = self.crossover.apply(self.space, a.genes, b.genes, self._rng)
                lines = [(genes[0], (a.id, b.id)), (genes[1], (a.id, b.id))]
                operators += (f"crossover:{self.crossover.name}",)
            else:
                lines = [(a.genes, (a.id,)), (b.genes, (b.id,))]
            for parent_genes, parents in lines[: count - len(children)]:
                genes_out = self.mutation.apply(self.space, parent_genes, self._rng)
                children.append(
                    Individual(
                        f"g{generation}-{len(children)}", generation, genes_out,
                        self.space.decode(genes_out), tuple(dict.fromkeys(parents)),
                        (*operators, f"mutation:{self.mutation.name}"),
                    )
                )  # fmt: skip
        for child in children:
            self.lineage.add(child)
        self.generation = generation
        self._members = [m.id for m in elites] + [c.id for c in children]
        self._pending = [c.id for c in children]
        if self.reevaluate_elites:
            self._pending = [m.id for m in elites] + self._pending

    def checkpoint(self) -> dict[str, Any]:
        """The whole state as JSON-ready data; :meth:`restore` continues from it exactly.

        It may be taken at any time, between generations or in the middle of one.
        """
        version, internal, gauss_next = self._rng.getstate()
        return {
            "version": CHECKPOINT_VERSION,
            "space": self.space.to_json(),
            "config": {
                "population": self.population,
                "seed": self.seed,
                "elite": self.elite,
                "budget": self.budget,
                "generations": self.generations,
                "reevaluate_elites": self.reevaluate_elites,
                "mutation": self.mutation.to_json(),
                "crossover": self.crossover.to_json(),
                "selection": self.selection.to_json(),
            },
            "rng": [version, list(internal), gauss_next],
            "generation": self.generation,
            "evaluations": self.evaluations,
            "finished": self._finished,
            "members": list(self._members),
            "pending": list(self._pending),
            "history": [asdict(stats) for stats in self.history],
            "lineage": self.lineage.to_json(),
        }

    @classmethod
    def restore(cls, state: Mapping[str, Any]) -> Evolution:
        """The run a :meth:`checkpoint` captured (after a JSON round trip too).

        Raises:
            InvalidArgumentError: Not a checkpoint of this version, or a malformed one.

        """
        if not isinstance(state, Mapping) or state.get("version") != CHECKPOINT_VERSION:
            found = state.get("version") if isinstance(state, Mapping) else type(state).__name__
            raise InvalidArgumentError(
                f"checkpoint version = {found!r}: allowed: {CHECKPOINT_VERSION}"
            )
        try:
            config = dict(state["config"])
            evolution = cls.__new__(cls)
            evolution._configure(
                GenomeSpace.from_json(state["space"]),
                mutation=Mutation.from_json(config.pop("mutation")),
                crossover=Crossover.from_json(config.pop("crossover")),
                selection=Selection.from_json(config.pop("selection")),
                **config,
            )
            version, internal, gauss_next = state["rng"]
            evolution._rng.setstate((version, tuple(internal), gauss_next))
            evolution.lineage = Lineage.from_json(state["lineage"])
            evolution.history = [GenerationStats(**item) for item in state["history"]]
            evolution.generation = int(state["generation"])
            evolution.evaluations = int(state["evaluations"])
            evolution._finished = bool(state["finished"])
            evolution._members = [str(i) for i in state["members"]]
            evolution._pending = [str(i) for i in state["pending"]]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidArgumentError):
                raise
            raise InvalidArgumentError(f"checkpoint: malformed ({exc!r})") from None
        return evolution
