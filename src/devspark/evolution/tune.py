"""Tuning: Optuna's samplers and pruners over a :class:`GenomeSpace`, ask/tell.

The caller evaluates, as with :class:`devspark.evolution.Evolution`: :meth:`Tuning.ask`
returns a trial with parameter values in the space's types, :meth:`Tuning.report` feeds
intermediate results (pruning), :meth:`Tuning.tell` the final value (or two, for two
objectives). Studies live in memory, or in Optuna's RDB storage on a SQLAlchemy URL
(the project's SQLite file or PostgreSQL) under a name, so :meth:`Tuning.load` resumes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import StudyDirection
from optuna.trial import TrialState
from sqlalchemy import make_url

from devspark.core.errors import InvalidArgumentError
from devspark.evolution.genome import Gene, GenomeSpace, ParamValue
from devspark.evolution.operators import _check_name

SAMPLERS = ("tpe", "cmaes", "nsga2", "random")
"""The sampler names :class:`Tuning` accepts."""
PRUNERS = ("median", "percentile", "successive_halving", "hyperband", "none")
"""The pruner names :class:`Tuning` accepts."""
DIRECTIONS = ("maximize", "minimize")
SPACE_ATTR = "devspark.space"
"""The study's user attribute holding the parameter space (so :meth:`Tuning.load` needs none)."""

optuna.logging.set_verbosity(optuna.logging.WARNING)


def distribution(gene: Gene) -> BaseDistribution:
    """The Optuna distribution of one parameter.

    ``float`` and ``int`` keep their bounds and ``log``; ``bool`` is categorical over
    ``(False, True)``; ``choice`` is categorical over its choices.
    """
    if gene.kind == "bool":
        return CategoricalDistribution((False, True))
    if gene.kind == "choice":
        return CategoricalDistribution(gene.choices)
    low, high = gene.bounds
    if gene.kind == "int":
        return IntDistribution(round(low), round(high), log=gene.log)
    return FloatDistribution(low, high, log=gene.log)


def _sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    _check_name("sampler", name, SAMPLERS)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def _pruner(name: str) -> optuna.pruners.BasePruner:
    _check_name("pruner", name, PRUNERS)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "percentile":
        return optuna.pruners.PercentilePruner(25.0, n_startup_trials=3, n_warmup_steps=1)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


@dataclass(frozen=True)
class TuningTrial:
    """One trial to evaluate.

    Attributes:
        number: The trial's number in the study (0, 1, ...).
        params: Its parameter values, in the space's order and types.
        trial: Optuna's trial (for :meth:`Tuning.report` and :meth:`Tuning.tell`).

    """

    number: int
    params: dict[str, ParamValue]
    trial: optuna.trial.Trial


@dataclass(frozen=True)
class Best:
    """A best trial: its number, parameter values and value(s)."""

    number: int
    params: dict[str, ParamValue]
    value: float | tuple[float, ...]


class Tuning:
    """An Optuna study over a :class:`GenomeSpace`; the caller evaluates the trials.

    Args:
        space: The parameter space (an agent's ``[parameters]``).
        sampler: ``tpe``, ``cmaes``, ``nsga2`` (for two objectives) or ``random``.
        seed: Seeds the sampler: the same seed gives the same trials for the same values.
        directions: ``maximize`` or ``minimize`` per objective (two for two objectives,
            e.g. ``("maximize", "minimize")`` for win rate and CPU seconds per move).
        pruner: ``median``, ``percentile``, ``successive_halving``, ``hyperband`` or
            ``none`` (single objective only).
        budget: The number of trials (finished, pruned or failed) before :attr:`done`;
            ``None`` for no limit.
        storage: A SQLAlchemy URL for Optuna's RDB storage (``sqlite:///path.db``,
            ``postgresql+psycopg://...``), or such a storage; ``None`` keeps the study in
            memory. :meth:`close` (or ``with``) closes its connections.
        name: The study's name in the storage; an existing one is refused (see :meth:`load`).

    Raises:
        InvalidArgumentError: An unknown sampler, pruner or direction (with the nearest
            known one), a bad budget, or a study name already taken.

    """

    def __init__(
        self,
        space: GenomeSpace,
        *,
        sampler: str = "tpe",
        seed: int = 0,
        directions: Sequence[str] = ("maximize",),
        pruner: str = "median",
        budget: int | None = None,
        storage: str | optuna.storages.RDBStorage | None = None,
        name: str | None = None,
        _load: bool = False,
    ) -> None:
        if not space.genes:
            raise InvalidArgumentError("parameter space has no parameters; allowed: one at least")
        if not directions:
            raise InvalidArgumentError("directions = []: allowed: one or two of maximize, minimize")
        for direction in directions:
            _check_name("direction", direction, DIRECTIONS)
        if budget is not None and (isinstance(budget, bool) or budget < 1):
            raise InvalidArgumentError(f"budget = {budget!r}: allowed: an integer >= 1 or None")
        if len(directions) > 1 and pruner != "none":
            pruner = "none"  # Optuna cannot prune multi-objective studies
        self.space = space
        self.budget = budget
        self.directions = tuple(directions)
        self.distributions = {gene.name: distribution(gene) for gene in space.genes}
        self._genes = {gene.name: gene for gene in space.genes}
        self._storage = optuna.storages.RDBStorage(storage) if isinstance(storage, str) else storage
        kwargs: dict[str, Any] = {
            "sampler": _sampler(sampler, seed),
            "pruner": _pruner(pruner),
            "storage": self._storage,
            "study_name": name,
        }
        try:
            if _load:
                self.study = optuna.load_study(**kwargs)
            else:
                wanted = [StudyDirection[d.upper()] for d in directions]
                self.study = optuna.create_study(directions=wanted, **kwargs)
                self.study.set_user_attr(SPACE_ATTR, space.to_json())
        except optuna.exceptions.DuplicatedStudyError:
            self.close()
            raise InvalidArgumentError(
                f"study {name!r} already exists in {_where(storage)}; allowed: a new name, "
                "or Tuning.load to resume it"
            ) from None
        except KeyError:
            self.close()
            raise InvalidArgumentError(f"study {name!r} is not in {_where(storage)}") from None
        self._pending: dict[int, TuningTrial] = {}

    @classmethod
    def load(
        cls,
        name: str,
        storage: str,
        *,
        sampler: str = "tpe",
        seed: int = 0,
        pruner: str = "median",
        budget: int | None = None,
    ) -> Tuning:
        """Resume a stored study: its space and directions come from the storage.

        The trials so far count toward ``budget`` and inform the sampler. Trials that were
        asked but never told stay unfinished (they count, as Optuna's ``RUNNING``).

        Raises:
            InvalidArgumentError: No study of that name in the storage, or one without
                a parameter space.

        """
        rdb = optuna.storages.RDBStorage(storage)
        try:
            summary = optuna.load_study(study_name=name, storage=rdb)
        except KeyError:
            rdb.engine.dispose()
            raise InvalidArgumentError(f"study {name!r} is not in {_where(storage)}") from None
        data = summary.user_attrs.get(SPACE_ATTR)
        if data is None:
            rdb.engine.dispose()
            raise InvalidArgumentError(f"study {name!r} has no {SPACE_ATTR!r}: not a Tuning")
        directions = [d.name.lower() for d in summary.directions]
        return cls(
            GenomeSpace.from_json(data),
            sampler=sampler,
            seed=seed,
            directions=directions,
            pruner=pruner,
            budget=budget,
            storage=rdb,
            name=name,
            _load=True,
        )

    def close(self) -> None:
        """Close the storage's database connections (a stored study stays; no-op in memory)."""
        if self._storage is not None:
            self._storage.remove_session()
            self._storage.engine.dispose()

    def __enter__(self) -> Tuning:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def trials(self) -> int:
        """The number of trials asked so far (all states)."""
        return len(self.study.get_trials(deepcopy=False))

    @property
    def done(self) -> bool:
        """Whether the budget is spent (never without one)."""
        return self.budget is not None and self.trials >= self.budget

    def ask(self) -> TuningTrial:
        """The next trial to evaluate, its parameters drawn by the sampler.

        Raises:
            InvalidArgumentError: The budget is spent.

        """
        if self.done:
            raise InvalidArgumentError(
                f"budget = {self.budget}: spent ({self.trials} trials); allowed: no more asks"
            )
        trial = self.study.ask(self.distributions)
        params = {name: self._value(name, trial.params[name]) for name in self.space.names}
        asked = TuningTrial(trial.number, params, trial)
        self._pending[trial.number] = asked
        return asked

    def _value(self, name: str, value: Any) -> ParamValue:
        gene = self._genes[name]
        if gene.kind == "float":
            return float(value)
        if gene.kind == "int":
            return int(value)
        assert isinstance(value, str | int | float | bool)
        return value

    def report(self, trial: TuningTrial, step: int, value: float) -> bool:
        """Record an intermediate result; return whether the trial should be pruned.

        A pruned trial is ended with :meth:`prune` (or told anyway).

        Raises:
            InvalidArgumentError: Two objectives (Optuna cannot prune those), a trial not
                awaiting a value, or a NaN or infinite value.

        """
        if len(self.directions) > 1:
            raise InvalidArgumentError(
                "report: intermediate values need a single objective; allowed: tell only"
            )
        self._awaiting(trial)
        _finite("value", value)
        trial.trial.report(float(value), step)
        return self.should_prune(trial)

    def should_prune(self, trial: TuningTrial) -> bool:
        """Whether the pruner would stop ``trial`` on what was reported so far."""
        return len(self.directions) == 1 and trial.trial.should_prune()

    def prune(self, trial: TuningTrial) -> None:
        """End ``trial`` as pruned (its last reported value counts for the pruner)."""
        self._awaiting(trial)
        self.study.tell(trial.trial, state=TrialState.PRUNED)
        del self._pending[trial.number]

    def tell(self, trial: TuningTrial, value: float | Sequence[float]) -> None:
        """Record a trial's final value: one number, or one per objective.

        Raises:
            InvalidArgumentError: A trial not awaiting a value, the wrong number of values,
                or a NaN or infinite one.

        """
        self._awaiting(trial)
        values = [value] if isinstance(value, int | float) else list(value)
        if len(values) != len(self.directions):
            raise InvalidArgumentError(
                f"value = {value!r}: allowed: {len(self.directions)} number(s), one per "
                f"objective ({', '.join(self.directions)})"
            )
        for index, each in enumerate(values):
            _finite("value" if len(values) == 1 else f"value[{index}]", each)
        told = float(values[0]) if len(values) == 1 else [float(v) for v in values]
        self.study.tell(trial.trial, told)
        del self._pending[trial.number]

    def _awaiting(self, trial: TuningTrial) -> None:
        if self._pending.get(trial.number) is not trial:
            waiting = ", ".join(str(n) for n in sorted(self._pending)) or "none"
            raise InvalidArgumentError(
                f"trial {trial.number} is not awaiting a value; allowed: trials {waiting}"
            )

    def _best(self, frozen: optuna.trial.FrozenTrial) -> Best:
        values = frozen.values
        assert values is not None
        value: float | tuple[float, ...] = values[0] if len(values) == 1 else tuple(values)
        params = {name: self._value(name, frozen.params[name]) for name in self.space.names}
        return Best(frozen.number, params, value)

    @property
    def best(self) -> Best | None:
        """The best finished trial (single objective); ``None`` before the first.

        Raises:
            InvalidArgumentError: Two objectives: see :attr:`front`.

        """
        if len(self.directions) > 1:
            raise InvalidArgumentError("best: two objectives have a front; allowed: front")
        if not any(t.state == TrialState.COMPLETE for t in self.study.get_trials(deepcopy=False)):
            return None
        return self._best(self.study.best_trial)

    @property
    def front(self) -> list[Best]:
        """The Pareto front of the finished trials (the best one for one objective)."""
        return sorted((self._best(t) for t in self.study.best_trials), key=lambda b: b.number)


def _where(storage: str | optuna.storages.RDBStorage | None) -> str:
    """The storage's URL for a message, its password hidden."""
    if storage is None:
        return "memory"
    url = storage if isinstance(storage, str) else storage.url
    return repr(make_url(url).render_as_string(hide_password=True))


def _finite(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(f"{field} = {value!r}: allowed: a finite number")
