"""Start-to-ready of a sandboxed Python and Node agent, launched directly and pre-started.

Measures ``ProcessWorker.start`` with every sandbox layer on: staging, cgroup, rlimits,
setpriv, bubblewrap, seccomp, interpreter start, the runner importing the agent, and the
hello/ready exchange. Two launch paths in the same run, interleaved start by start:
``direct`` (create and limit a new cgroup, fork, join it in the child, exec) and
``prestart`` (claim a pre-started slot: a fresh limited group with a stub process already
in it, see ``devspark.sandbox.prestart``); before each start the benchmark waits until
the pool is full again, so neither path shares the CPU with the refill. Next to them, the
bare interpreter started unsandboxed with a clean environment (``python3 -I -S -c 0``,
``node -e 0``) as the baseline. Each start follows the previous agent's close, as when a
runner replaces an agent.

``--stages`` adds a breakdown of the Python start: each layer added one at a time to the
bare interpreter, every variant interleaved in one loop, the cgroup join timed in the
child itself. Prints the figures, the targets and whether they are met; the last line is
one JSON object.

    python benchmarks/cold_start.py [--runs 30] [--stages] [--pool 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from _util import emit, percentile
from devspark.arena.agents import resolve_agent
from devspark.core.lifecycle import LifecycleState
from devspark.core.ports import AgentPackage
from devspark.sandbox import IsolationLevel, prestart, seccomp, staging
from devspark.sandbox.cgroups import Cgroup, CgroupLimits, group_name
from devspark.sandbox.isolation import cgroup_layout
from devspark.sandbox.launcher import compiled_runner, confined_argv
from devspark.sandbox.worker import ProcessWorker
from devspark.sdk import PYTHON_RUNNER, SDK_DIR

TARGET_MS = {"python": 25.0, "node": 60.0}
AGENTS = {"python": "builtin:random", "node": "builtin:random-js"}
BARE = {"python": ["/usr/bin/python3", "-I", "-S", "-c", "0"], "node": ["/usr/bin/node", "-e", "0"]}
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
LIMITS = CgroupLimits(256 << 20, 1.0, 64)


def worker_start(package: AgentPackage) -> tuple[float, float]:
    """(start-to-ready ms, host preparation ms: staging and the seccomp program)."""
    worker = ProcessWorker(package, level=IsolationLevel.SANDBOX)
    start = time.monotonic()
    worker.start()
    ready = time.monotonic()
    assert worker.lifecycle.state is LifecycleState.ONLINE, worker.lifecycle.history
    assert worker.proc is not None
    prep = worker.proc.started - start
    worker.close()
    return (ready - start) * 1000, prep * 1000


def run_ms(argv: list[str], **popen: object) -> float:
    """Start-to-exit of ``argv`` in ms."""
    start = time.perf_counter()
    subprocess.run(argv, env=ENV, check=True, **popen)  # type: ignore[call-overload]
    return (time.perf_counter() - start) * 1000


def compare(language: str, pool: prestart.PrestartPool, runs: int) -> dict[str, float]:
    """p50/p90 of both launch paths and the bare interpreter, interleaved start by start."""
    package = resolve_agent(AGENTS[language])
    samples: dict[str, list[float]] = {"direct": [], "prestart": [], "bare": []}
    with prestart.suspended():
        for _ in range(3):  # warm the page cache and the staging cache
            worker_start(package)
    claimed, missed = pool.claimed, pool.missed
    for run in range(runs):
        order = ("direct", "prestart") if run % 2 else ("prestart", "direct")
        for mode in order:
            pool.wait_ready(pool.size)  # neither path shares the CPU with the pool's refill
            context = prestart.suspended() if mode == "direct" else contextlib.nullcontext()
            with context:
                samples[mode].append(worker_start(package)[0])
        samples["bare"].append(run_ms(BARE[language]))
    figures: dict[str, float] = {}
    for name, values in samples.items():
        figures[f"{language}_{name}_ms_p50"] = percentile(values, 50)
        figures[f"{language}_{name}_ms_p90"] = percentile(values, 90)
    figures[f"{language}_prestart_missed"] = pool.missed - missed
    figures[f"{language}_prestart_claimed"] = pool.claimed - claimed
    return figures


def report(language: str, figures: dict[str, float]) -> None:
    """Print one language's comparison against its target."""
    target, bare = TARGET_MS[language], figures[f"{language}_bare_ms_p50"]
    print(f"{language}: target p50 <= {target:.0f} ms; bare interpreter p50 {bare:.1f} ms")
    for mode in ("direct", "prestart"):
        p50, p90 = figures[f"{language}_{mode}_ms_p50"], figures[f"{language}_{mode}_ms_p90"]
        met = "met" if p50 <= target else "NOT met"
        print(f"  {mode:9s} p50 {p50:6.1f} ms  p90 {p90:6.1f} ms  {p50 / bare:4.1f}x bare  {met}")
    missed = figures[f"{language}_prestart_missed"]
    print(f"  prestart: {figures[f'{language}_prestart_claimed']:.0f} claims, {missed:.0f} missed")


# -- --stages: the Python start, one layer at a time ----------------------------------
def _python_argv(seccomp_fd: int | None) -> list[str]:
    argv = confined_argv(hostname="agent", home="/state", tmp_mb=64)
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return [*argv, "--", *BARE["python"]]


def _with_seccomp(action: Callable[[int], float]) -> float:
    fd = seccomp.filter_fd(allow_network=False)
    try:
        return action(fd)
    finally:
        os.close(fd)


def runner_ready_ms(package: AgentPackage, runner: Path) -> float:
    """Unsandboxed: the interpreter, the runner importing the agent, and hello/ready."""
    argv = [BARE["python"][0], "-I", "-S", "-B", str(runner), str(package.folder)]
    hello = {"type": "hello", "protocol": 1, "agent": {"name": "bench", "version": "0"}}
    hello |= {"params": {}, "limits": {"move_ms": 1000, "overage_ms": 0, "memory_mb": 256}}
    start = time.perf_counter()
    child = subprocess.Popen(
        [*argv, package.manifest.entrypoint], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(hello | {"seed": 0}).encode() + b"\n")
    child.stdin.flush()
    assert json.loads(child.stdout.readline())["type"] == "ready"
    ms = (time.perf_counter() - start) * 1000
    child.stdin.close()
    child.wait()
    return ms


def _core_rlimit() -> None:
    """A ``preexec_fn`` as the launcher's: Popen must fork (not vfork) to run it."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class _Groups:
    """Timings of the direct path's cgroup steps, and a group made one loop ahead."""

    def __init__(self) -> None:
        self.creates: list[float] = []
        self.joins: list[float] = []
        self.joins_precreated: list[float] = []
        self.teardowns: list[float] = []
        self.spare: Cgroup | None = None

    def direct(self, fd: int) -> float:
        """Full stack, a new group made, joined in the child (timed there), rlimits, fork."""
        begin = time.perf_counter()
        group = Cgroup(cgroup_layout(), group_name(), LIMITS)
        self.creates.append((time.perf_counter() - begin) * 1000)
        return self._run(fd, group, self.joins) + self.creates[-1]

    def precreated(self, fd: int) -> float:
        """The same, joining a group made during the previous loop (as a pool of groups)."""
        group = self.spare or Cgroup(cgroup_layout(), group_name(), LIMITS)
        self.spare = Cgroup(cgroup_layout(), group_name(), LIMITS)
        return self._run(fd, group, self.joins_precreated)

    def _run(self, fd: int, group: Cgroup, joins: list[float]) -> float:
        read_end, write_end = os.pipe()

        def join() -> None:
            t = time.perf_counter()
            group.attach_self()
            os.write(write_end, str((time.perf_counter() - t) * 1000).encode())

        try:
            ms = run_ms(_python_argv(fd), pass_fds=(fd,), preexec_fn=join)
            os.close(write_end)
            joins.append(float(os.read(read_end, 64)))
        finally:
            os.close(read_end)
            begin = time.perf_counter()
            prestart.teardown(group)  # what close() does after the agent has exited
            self.teardowns.append((time.perf_counter() - begin) * 1000)
        return ms

    def close(self) -> None:
        if self.spare is not None:
            prestart.teardown(self.spare)


def _slot_group(fd: int, pool: prestart.PrestartPool) -> float:
    """Full stack in a pre-started slot (claim, exec, exit)."""
    pool.wait_ready(pool.size)
    job = prestart.LaunchJob(_python_argv(3), dict(ENV), None, [], {fd: 3})
    start = time.perf_counter()
    claimed = pool.claim(LIMITS, job)
    assert claimed is not None, "no pre-started slot was ready"
    popen, group = claimed
    popen.communicate()
    ms = (time.perf_counter() - start) * 1000
    pool.retire(group)
    return ms


def stages(pool: prestart.PrestartPool, runs: int) -> dict[str, float]:
    """Each layer added to the bare interpreter, all variants interleaved in one loop."""
    package = resolve_agent(AGENTS["python"])
    sdk = staging.stage(SDK_DIR, kind="sdk").path
    compiled = sdk / compiled_runner(sdk)  # what the launcher runs
    groups = _Groups()
    preps: list[float] = []
    setpriv = confined_argv(hostname="agent", home="/state", tmp_mb=64)
    setpriv = setpriv[: setpriv.index("bwrap")]
    variants: dict[str, Callable[[], float]] = {
        "interpreter": lambda: run_ms(BARE["python"]),
        "runner.py ready": lambda: runner_ready_ms(package, PYTHON_RUNNER),
        "runner.pyc ready": lambda: runner_ready_ms(package, compiled),
        "+setpriv": lambda: run_ms([*setpriv, *BARE["python"]]),
        "+bwrap": lambda: run_ms(_python_argv(None)),
        "+seccomp": lambda: _with_seccomp(lambda fd: run_ms(_python_argv(fd), pass_fds=(fd,))),
        "+fork, rlimits": lambda: _with_seccomp(
            lambda fd: run_ms(_python_argv(fd), pass_fds=(fd,), preexec_fn=_core_rlimit)
        ),
        "+cgroup direct": lambda: _with_seccomp(groups.direct),
        "+cgroup made before": lambda: _with_seccomp(groups.precreated),
        "+cgroup slot": lambda: _with_seccomp(lambda fd: _slot_group(fd, pool)),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    samples["worker direct"], samples["worker prestart"] = [], []
    try:
        for _ in range(runs):
            for name, variant in variants.items():
                samples[name].append(variant())
            pool.wait_ready(pool.size)  # the slot variant's refill and removal are done
            with prestart.suspended():
                ms, prep = worker_start(package)
            samples["worker direct"].append(ms)
            preps.append(prep)
            pool.wait_ready(pool.size)
            samples["worker prestart"].append(worker_start(package)[0])
    finally:
        groups.close()
    p50 = {name: percentile(values, 50) for name, values in samples.items()}
    figures = {f"stage_{name}_ms_p50": value for name, value in p50.items()}
    figures |= {
        "stage_cgroup_join_ms_p50": percentile(groups.joins, 50),
        "stage_cgroup_join_ms_p90": percentile(groups.joins, 90),
        "stage_cgroup_join_ms_max": max(groups.joins),
        "stage_cgroup_join_made_before_ms_p50": percentile(groups.joins_precreated, 50),
        "stage_cgroup_join_made_before_ms_p90": percentile(groups.joins_precreated, 90),
        "stage_cgroup_create_ms_p50": percentile(groups.creates, 50),
        "stage_cgroup_teardown_ms_p50": percentile(groups.teardowns, 50),
        "stage_host_prep_ms_p50": percentile(preps, 50),
    }
    print_stages(p50, figures)
    return figures


def print_stages(p50: dict[str, float], figures: dict[str, float]) -> None:
    """Each variant's p50 and its difference to the layer it adds to."""
    print("python start, one layer at a time (p50 ms, start to exit unless noted):")
    bases = {"runner.py ready": "interpreter", "runner.pyc ready": "interpreter"}
    bases |= {"+setpriv": "interpreter", "+bwrap": "+setpriv", "+seccomp": "+bwrap"}
    bases |= {"+fork, rlimits": "+seccomp", "+cgroup direct": "+fork, rlimits"}
    bases["+cgroup made before"] = "+fork, rlimits"
    bases["+cgroup slot"] = "+seccomp"  # no fork, no join on the critical path
    for name, value in p50.items():
        base = bases.get(name)
        step = f"{name} vs {base}: {value - p50[base]:+6.2f}" if base else ""
        step = "(start to ready)" if name.startswith("worker") else step
        print(f"  {name:19s} {value:6.2f}  {step}")
    f = {
        key.removeprefix("stage_").removesuffix("_ms_p50"): value for key, value in figures.items()
    }
    print(
        f"  cgroup create+limit {f['cgroup_create']:.2f}; join in the child p50 "
        f"{f['cgroup_join']:.2f}, p90 {f['cgroup_join_ms_p90']:.2f}, max "
        f"{f['cgroup_join_ms_max']:.2f}; joining a group made a loop before p50 "
        f"{f['cgroup_join_made_before']:.2f}, p90 {f['cgroup_join_made_before_ms_p90']:.2f}"
    )
    print(f"  cgroup teardown after exit (kill, wait, rmdir) {f['cgroup_teardown']:.2f}")
    print(f"  host prep (staging, seccomp program) {f['host_prep']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="starts per path and language")
    parser.add_argument("--stages", action="store_true", help="also break the Python start down")
    parser.add_argument("--pool", type=int, default=2, help="pre-started slots kept ready")
    args = parser.parse_args()
    pool = prestart.enable(args.pool)
    assert pool is not None, "cgroups are unusable here: nothing to pre-start"
    figures: dict[str, float] = {"load_1min_start": os.getloadavg()[0]}
    print(f"host load average (1 min) {figures['load_1min_start']:.1f} on {os.cpu_count()} CPUs")
    try:
        for language in ("python", "node"):
            result = compare(language, pool, args.runs)
            report(language, result)
            figures |= result
        if args.stages:
            figures |= stages(pool, args.runs)
    finally:
        prestart.disable()
    figures["load_1min_end"] = os.getloadavg()[0]
    print(f"host load average (1 min) at the end {figures['load_1min_end']:.1f}")
    for language, target in TARGET_MS.items():
        figures[f"{language}_target_ms"] = target
        figures[f"{language}_prestart_met"] = figures[f"{language}_prestart_ms_p50"] <= target
        figures[f"{language}_direct_met"] = figures[f"{language}_direct_ms_p50"] <= target
    emit(figures)


if __name__ == "__main__":
    main()
