"""Shared helpers for the built-in agent tests (``tests/agents/test_*_agents.py``).

Each test module loads agents in-process, checks their manifests, checks that they
import on the bare sandbox interpreter, plays them the way the match runner does, and
measures their strength with seeded matches. The parts that are the same for every
agent live here; what an agent is expected to do stays in its own test module.

Imported as a plain module: pytest's default ``prepend`` import mode puts this folder
on ``sys.path`` before it imports the test modules next to it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import tomllib
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from random import Random
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from scipy import stats

import devspark
from devspark.arena import MatchSpec, run_matches
from devspark.core.results import AgentStatus, MatchResult
from devspark.sandbox import IsolationLevel
from devspark.scenarios import AnyScenario

AGENTS = Path(devspark.__file__).parent / "agents"
SYSTEM_PYTHON = Path("/usr/bin/python3")
MANIFEST_KEYS = {
    "name",
    "version",
    "language",
    "entrypoint",
    "description",
    "license",
    "scenarios",
    "capabilities",
    "limits",
    "parameters",
}
STANDARD_LIMITS = {"move_ms": 200, "overage_ms": 2000, "memory_mb": 256}

needs_system_python = pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="no /usr/bin/python3")
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


# ----------------------------------------------------------------- loading and manifests


def load_agent(name: str) -> ModuleType:
    """Import the built-in agent ``name`` (its ``agent.py``) as a fresh module."""
    spec = importlib.util.spec_from_file_location(
        f"builtin_agent_{name.replace('-', '_')}", AGENTS / name / "agent.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_standard_manifest(
    name: str, *, scenarios: list[str], parameters: Collection[str] = ()
) -> dict[str, Any]:
    """Check the built-in ``name``'s ``agent.toml``; return it for any further checks.

    Every built-in has the full set of manifest keys (``[service]`` optional), version 1.0.0, the default limits,
    no capabilities, an entrypoint that exists, and a language that matches its name
    (``-js`` agents are JavaScript). It declares exactly ``scenarios`` and a
    ``[parameters]`` table with exactly the keys ``parameters``.
    """
    manifest = tomllib.loads((AGENTS / name / "agent.toml").read_text())
    assert set(manifest) - {"service"} == MANIFEST_KEYS  # [service]: also a service agent
    assert manifest["name"] == name
    assert manifest["version"] == "1.0.0"
    assert manifest["language"] == ("javascript" if name.endswith("-js") else "python")
    assert manifest["scenarios"] == scenarios
    assert manifest["limits"] == STANDARD_LIMITS
    assert manifest["capabilities"] == []
    assert isinstance(manifest["parameters"], dict)
    assert set(manifest["parameters"]) == set(parameters)
    assert (AGENTS / name / manifest["entrypoint"]).is_file()
    return manifest


def assert_imports_on_the_sandbox_interpreter(
    names: Iterable[str], check: str = "assert callable(module.act)"
) -> None:
    """Import each agent with ``/usr/bin/python3 -I -S``, as the sandbox does.

    ``check`` is one statement run on each imported ``module``. Afterwards nothing of
    ``devspark`` or ``numpy`` may have been imported: built-ins are stdlib only.
    """
    paths = [str(AGENTS / name / "agent.py") for name in names]
    code = (
        "import importlib.util, sys\n"
        f"for path in {paths!r}:\n"
        "    spec = importlib.util.spec_from_file_location('agent', path)\n"
        "    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"    {check}\n"
        "assert not [m for m in sys.modules if m.startswith(('devspark', 'numpy'))]\n"
    )
    subprocess.run([str(SYSTEM_PYTHON), "-I", "-S", "-c", code], check=True, timeout=30)


def run_node_module(script: str, stdin: str | None = None) -> Any:
    """Run ``script`` as an ES module on ``node``; return what it printed, as JSON."""
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(result.stdout)


# ----------------------------------------------------------------- in-process play


def agent_context(
    legal_actions: list[Any] | None,
    rng: Random,
    *,
    role: str = "player_0",
    step: int = 0,
    time_left_ms: float = 200.0,
) -> SimpleNamespace:
    """A stand-in for the runner's ``Context``: the same attributes, fixed values."""
    return SimpleNamespace(
        legal_actions=legal_actions,
        rng=rng,
        params={},
        role=role,
        step=step,
        time_left_ms=time_left_ms,
        log=lambda message: None,
    )


def runner_move(
    env: AnyScenario, agent: str, player: Any, context: Any, label: object = None
) -> Any:
    """Ask ``player`` for ``agent``'s action as the match runner does.

    The observation and the action both make a JSON round trip (as on the wire), and
    the action must be legal; it is returned, not stepped. ``label`` goes into the
    failure message (say, the seed).
    """
    observation = json.loads(json.dumps(env.observe_json(agent)))
    action = json.loads(json.dumps(player.act(observation, context)))
    assert env.is_legal(agent, action), (agent, action, label)
    return action


# ----------------------------------------------------------------- seeded matches


def seeded_specs(
    scenario: str,
    agents: Sequence[str],
    seeds: Iterable[int],
    *,
    difficulty: int,
    isolation: IsolationLevel = IsolationLevel.TRUSTED,
    swap_seats: bool = False,
) -> list[MatchSpec]:
    """One match of ``agents`` per seed; with ``swap_seats`` odd seeds seat them reversed."""
    return [
        MatchSpec(
            scenario,
            tuple(agents[::-1] if swap_seats and seed % 2 else agents),
            seed=seed,
            options={"difficulty": difficulty},
            isolation=isolation,
        )
        for seed in seeds
    ]


def play_matches(specs: Iterable[MatchSpec]) -> list[MatchResult]:
    """Play ``specs`` in this process, in order; fail unless every agent ended ``OK``."""
    results = list(run_matches(specs, workers=1))
    for result in results:
        assert all(agent.status is AgentStatus.OK for agent in result.agents), result
    return results


def paired_p_value(strong: Sequence[float], weak: Sequence[float]) -> float:
    """One-sided Wilcoxon signed-rank p-value that ``strong`` beats ``weak``, paired by seed."""
    return float(stats.wilcoxon(strong, weak, alternative="greater").pvalue)
