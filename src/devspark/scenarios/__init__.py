"""Scenarios: the base class, the registry and the built-in scenarios.

Importing this package registers the built-ins (``tictactoe``).
"""

from devspark.scenarios import tictactoe as _tictactoe  # noqa: F401  # registers the built-in
from devspark.scenarios.base import Scenario
from devspark.scenarios.registry import (
    ScenarioInfo,
    list_scenarios,
    make,
    register,
    resolve,
)

__all__ = [
    "Scenario",
    "ScenarioInfo",
    "list_scenarios",
    "make",
    "register",
    "resolve",
]
