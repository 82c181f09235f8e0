"""Evolution of agents: a genetic algorithm over an agent's ``[parameters]``.

- :class:`GenomeSpace`: the parameters as a flat genome (encode, decode, validate, sample).
- :class:`Mutation`, :class:`Crossover`, :class:`Selection`, :func:`elite`: DEAP's
  operators, repaired onto the space and driven by a seeded ``random.Random``.
- :class:`Individual`, :class:`Lineage`: who made whom, how, and how each scored.
- :class:`Evolution`: the generational loop (``ask``/``tell``, elitism, a budget in
  evaluations, ``checkpoint``/``restore``). Fitness is the caller's. See docs/evolution.md.
- :class:`Tuning`: the same space searched with Optuna's samplers (TPE, CMA-ES, NSGA-II,
  random) and pruners, ask/tell, in memory or in the project database.
"""

from devspark.evolution.engine import CHECKPOINT_VERSION, Evolution, GenerationStats
from devspark.evolution.genome import Gene, Genes, GenomeSpace, ParamValue
from devspark.evolution.lineage import Individual, Lineage
from devspark.evolution.operators import (
    CROSSOVERS,
    MUTATIONS,
    SELECTIONS,
    Crossover,
    Mutation,
    Selection,
    elite,
    run_seeded,
)
from devspark.evolution.tune import PRUNERS, SAMPLERS, Best, Tuning, TuningTrial

__all__ = [
    "CHECKPOINT_VERSION",
    "CROSSOVERS",
    "MUTATIONS",
    "PRUNERS",
    "SAMPLERS",
    "SELECTIONS",
    "Best",
    "Crossover",
    "Evolution",
    "Gene",
    "GenerationStats",
    "Genes",
    "GenomeSpace",
    "Individual",
    "Lineage",
    "Mutation",
    "ParamValue",
    "Selection",
    "Tuning",
    "TuningTrial",
    "elite",
    "run_seeded",
]
