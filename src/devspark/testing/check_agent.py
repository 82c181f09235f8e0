"""Conformance kit for agents: ``check_agent(folder)`` (also ``devspark agent check``).

Checks, in order: the manifest is valid; the agent starts and says ``ready`` within its
start limit; it plays every declared built-in scenario from every seat against
``builtin:random`` without a fault; it is deterministic given a seed; and nothing of
it survives when it is stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devspark.arena.agents import resolve_agent, start_once
from devspark.arena.match import agent_seed, play_episode
from devspark.core.errors import DevSparkError
from devspark.core.isolation import IsolationLevel
from devspark.core.ports import AgentPackage, AgentWorker, Decision
from devspark.sandbox import ProcessWorker, open_worker
from devspark.scenarios import list_scenarios, make

OPPONENT = "builtin:random"
DETAIL_CHARS = 300
"""Longest fault detail a check prints; a longer one keeps its end (a traceback's last line)."""


@dataclass(frozen=True, slots=True)
class Check:
    """One named check and its outcome."""

    name: str
    ok: bool
    detail: str


@dataclass(slots=True)
class CheckReport:
    """Every check run on one agent."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(item.ok for item in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        """Record a check."""
        self.checks.append(Check(name, ok, detail))


def _scenarios(package: AgentPackage) -> list[str]:
    known = [info.id for info in list_scenarios()]
    if "*" in package.manifest.scenarios:
        return ["tictactoe"] if "tictactoe" in known else known[:1]
    return [s for s in package.manifest.scenarios if s.split("-v")[0] in known]


def _play(
    package: AgentPackage, scenario: str, level: IsolationLevel, seed: int, seat: int
) -> tuple[str, list[str]]:
    """Play one episode with the agent in ``seat``; return its status/detail and its actions."""
    env = make(scenario)
    opponent = resolve_agent(OPPONENT)
    seats = len(env.possible_agents)
    packages = [opponent] * seats
    packages[seat] = package
    workers = [open_worker(p, level, seed=agent_seed(seed, i)) for i, p in enumerate(packages)]
    actions: list[str] = []
    role = env.possible_agents[seat]

    def record(step: int, name: str, decision: Decision) -> None:
        if name == role:
            actions.append(repr(decision.action))

    try:
        result = play_episode(env, workers, seed=seed, observer=record)
    finally:
        for worker in workers:
            worker.close()
    mine = result.agents[seat]
    verdict = "ok" if mine.status == "ok" else f"{mine.status}: {_tail(mine.detail)}"
    return verdict, actions


def _tail(detail: str) -> str:
    """A fault's detail, a long one cut at its start: a traceback ends with what went wrong."""
    if len(detail) <= DETAIL_CHARS:
        return detail
    return "…" + detail[-(DETAIL_CHARS - 1) :]


def _last_line(verdict: str) -> str:
    """``error: RuntimeError: boom`` from a verdict holding a whole traceback."""
    status, _, detail = verdict.partition(": ")
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    return f"{status}: {lines[-1]}" if lines else status


def _close_and_find_survivors(worker: AgentWorker) -> list[str]:
    """Stop ``worker``; list any of its processes or cgroup folders still present."""
    proc = worker.proc if isinstance(worker, ProcessWorker) else None
    pids: list[int] = []
    folders = []
    if proc is not None and proc.cgroup is not None:
        pids = proc.cgroup.pids()
        folders = list(proc.cgroup.dirs.values())
    worker.close()
    left = [f"pid {pid}" for pid in pids if Path(f"/proc/{pid}").exists()]
    return left + [str(folder) for folder in folders if folder.exists()]


def check_agent(
    folder: Path, *, isolation: IsolationLevel = IsolationLevel.SANDBOX, episodes: int = 4
) -> CheckReport:
    """Run the conformance kit on the agent in ``folder``.

    A service agent (one with a ``[service]`` table) is also given one task of every
    type it handles (see :func:`~devspark.testing.check_service.check_service`); one
    that plays no scenario (``scenarios = []``) is checked as a service only.
    """
    report = CheckReport()
    try:
        package = resolve_agent(str(folder))
    except DevSparkError as exc:
        report.add("manifest", False, str(exc))
        return report
    report.add(
        "manifest",
        True,
        f"{package.label} ({package.manifest.language}), sha256 {package.sha256[:12]}",
    )
    try:
        worker = open_worker(package, isolation)
    except DevSparkError as exc:
        report.add("start", False, str(exc))
        return report
    trial = start_once(worker)
    survivors = _close_and_find_survivors(worker)
    detail = f"lifecycle {trial.history}" + ("" if trial.ok else f": {trial.reason}")
    report.add("start", trial.ok, detail)
    if not trial.ok:
        return report
    report.add(
        "clean stop",
        not survivors,
        "no process or cgroup left after stop" if not survivors else f"left behind: {survivors}",
    )
    if package.manifest.service is not None:
        from devspark.testing.check_service import check_service  # it builds on this module

        for item in check_service(folder, isolation=isolation).checks:
            if item.name.startswith("serves "):
                report.add(item.name, item.ok, item.detail)
    scenarios = _scenarios(package)
    if not scenarios:
        if package.manifest.service is None or package.manifest.scenarios:
            report.add(
                "scenarios", False, f"none of {package.manifest.scenarios} is a known scenario"
            )
        return report
    for scenario in scenarios:
        seats = len(make(scenario).possible_agents)
        faults = []
        for seed in range(episodes):
            for seat in range(seats):
                verdict, _ = _play(package, scenario, isolation, seed, seat)
                if verdict != "ok":
                    faults.append(f"seed {seed} seat {seat}: {verdict}")
        played = episodes * seats
        report.add(
            f"plays {scenario}",
            not faults,
            f"{played} episodes, no faults" if not faults else faults[0],
        )
        report.add(f"deterministic on {scenario}", *_determinism(package, scenario, isolation))
    return report


def _determinism(package: AgentPackage, scenario: str, level: IsolationLevel) -> tuple[bool, str]:
    """Play seed 7 twice from seat 0: the agent's own moves must be the same, and played.

    An agent that faulted chose no move of its own (the host forfeited for it), so its
    determinism cannot be shown: that fails the check rather than passing vacuously.
    """
    first_verdict, first = _play(package, scenario, level, 7, 0)
    again_verdict, again = _play(package, scenario, level, 7, 0)
    for verdict in (first_verdict, again_verdict):
        if verdict != "ok":
            return False, f"not shown: the agent faulted ({_last_line(verdict)})"
    if not first:
        return False, "not shown: the agent made no move"
    if first != again:
        return False, f"moves differ: {first} vs {again}"
    return True, f"same seed, same {len(first)} moves"
