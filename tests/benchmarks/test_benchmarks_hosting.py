"""The process helpers of the service-agent benchmarks (benchmarks/_hosting.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _hosting import kill_all, memory_kb, process_tree  # benchmarks/ is not a package


def test_a_process_tree_is_measured_and_killed_whole() -> None:
    parent = subprocess.Popen(
        [
            "/usr/bin/python3",
            "-I",
            "-S",
            "-c",
            "import subprocess, sys; "
            "c = subprocess.Popen(['sleep', '60']); print(c.pid, flush=True); c.wait()",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        tree = process_tree(parent.pid)
        assert tree == [parent.pid, child]
        pss, rss = memory_kb(parent.pid)
        assert 0 < pss <= rss
        assert kill_all(tree) == 2
        assert parent.wait(timeout=10) != 0
        assert memory_kb(child) == (0, 0) or kill_all([child]) <= 1
    finally:
        parent.kill()
        parent.wait()
