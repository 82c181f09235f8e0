"""DevSpark Playground: run, evaluate and share AI agents in sandboxes.

The public API for agent and scenario authors; everything here is re-exported from the
layer that owns it.
"""

from devspark.arena import MatchSpec, resolve_agent, run_match, run_matches
from devspark.core.errors import DevSparkError
from devspark.core.isolation import IsolationLevel
from devspark.core.manifest import AgentManifest, load_manifest
from devspark.core.results import AgentResult, AgentStatus, MatchResult
from devspark.scenarios import (
    ParallelScenario,
    RoundOutcome,
    Scenario,
    list_scenarios,
    make,
    register,
    to_gymnasium,
)
from devspark.testing.check_agent import check_agent
from devspark.testing.check_scenario import check_scenario

__all__ = [
    "AgentManifest",
    "AgentResult",
    "AgentStatus",
    "DevSparkError",
    "IsolationLevel",
    "MatchResult",
    "MatchSpec",
    "ParallelScenario",
    "RoundOutcome",
    "Scenario",
    "check_agent",
    "check_scenario",
    "list_scenarios",
    "load_manifest",
    "make",
    "register",
    "resolve_agent",
    "run_match",
    "run_matches",
    "to_gymnasium",
]
