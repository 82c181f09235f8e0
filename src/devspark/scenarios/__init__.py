"""Scenarios: the base class, the registry and the built-in scenarios.

Importing this package registers the built-ins.
"""

from devspark.scenarios import connect_four as _connect_four  # noqa: F401  # registers the built-in
from devspark.scenarios import foraging as _foraging  # noqa: F401  # registers the built-in
from devspark.scenarios import maze as _maze  # noqa: F401  # registers the built-in
from devspark.scenarios import prisoners_dilemma as _prisoners_dilemma  # noqa: F401  # registers the built-in
from devspark.scenarios import puzzles as _puzzles  # noqa: F401  # registers the built-in
from devspark.scenarios import tictactoe as _tictactoe  # noqa: F401  # registers the built-in
from devspark.scenarios.base import Scenario, ScenarioCore
from devspark.scenarios.gym_env import ScenarioGymEnv, to_gymnasium
from devspark.scenarios.parallel import ParallelScenario, RoundOutcome
from devspark.scenarios.registry import (
    AnyScenario,
    ScenarioInfo,
    describe,
    list_scenarios,
    make,
    register,
    resolve,
)

__all__ = [
    "AnyScenario",
    "ParallelScenario",
    "RoundOutcome",
    "Scenario",
    "ScenarioCore",
    "ScenarioGymEnv",
    "ScenarioInfo",
    "describe",
    "list_scenarios",
    "make",
    "register",
    "resolve",
    "to_gymnasium",
]
