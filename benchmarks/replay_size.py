"""Size and load time of a 10,000-step replay.

Records a 10,000-round iterated prisoner's dilemma between two sandboxed agents
(``builtin:tit-for-tat`` and ``builtin:random``, difficulty 3: noisy moves) and writes
it as JSON and as gzip JSON, then times ``load_replay`` and rebuilding every state.
The baseline, in the same run, is ``json.dumps``/``json.loads`` of the same steps
stored naively (the full ``render_state()`` at every step, no deltas).
Targets (set here): at most 20 bytes per step gzipped (a 10,000-step replay well under
a megabyte) and load + rebuild under 1 s; the gzip file's compression factor (json /
gzip, the figure docs/api.md quotes for replays served gzipped) is printed too.
Prints one JSON object: steps, json_bytes, gzip_bytes, bytes_per_step (gzip),
load_ms (gzip file, states rebuilt), naive_json_bytes, ratio (json / naive),
gzip_factor (json / gzip) and the judged figures (target, met, ratio).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from _util import emit, figure, machine
from devspark.arena.match import MatchSpec
from devspark.arena.replay import load_replay, record_match, write_replay

ROUNDS = 10_000
TARGET_BYTES_PER_STEP = 20.0
TARGET_LOAD_MS = 1000.0


def naive_load(text: str) -> float:
    """Milliseconds to parse the naive full-state JSON (every state already whole)."""
    started = time.perf_counter()
    json.loads(text)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    load = machine()
    spec = MatchSpec(
        "prisoners_dilemma",
        ("builtin:tit-for-tat", "builtin:random"),
        seed=1,
        options={"difficulty": 3, "rounds": ROUNDS},
    )
    started = time.perf_counter()
    result, replay = record_match(spec)
    record_s = time.perf_counter() - started
    assert result.steps == ROUNDS, result.steps
    with tempfile.TemporaryDirectory() as folder:
        plain, packed = Path(folder) / "r.json", Path(folder) / "r.json.gz"
        json_bytes = write_replay(replay, plain)
        gzip_bytes = write_replay(replay, packed)
        started = time.perf_counter()
        loaded = load_replay(packed)
        states = list(loaded.states())
        load_ms = (time.perf_counter() - started) * 1000
    naive = json.dumps(
        {"steps": [{**s, "state": st} for s, st in zip(replay.steps, states[1:], strict=True)]}
    )
    print(f"{ROUNDS} steps recorded in {record_s:.1f} s (sandboxed)")
    print(
        f"json {json_bytes:,} bytes, gzip {gzip_bytes:,} bytes "
        f"({gzip_bytes / ROUNDS:.1f} bytes/step)"
    )
    print(f"load + rebuild {len(states):,} states: {load_ms:.0f} ms")
    print(f"naive full-state json {len(naive):,} bytes; ratio {json_bytes / len(naive):.2f}")
    print(f"gzip factor (json / gzip): {json_bytes / gzip_bytes:.1f}")
    naive_load_ms = naive_load(naive)
    judged = [
        figure(
            "gzip replay size",
            gzip_bytes / ROUNDS,
            "bytes/step",
            target=TARGET_BYTES_PER_STEP,
            better="lower",
            target_source="set here",
            baseline=len(naive) / ROUNDS,
            baseline_name="naive full-state JSON (no deltas, no gzip)",
        ),
        figure(
            "load + rebuild every state",
            load_ms,
            "ms",
            target=TARGET_LOAD_MS,
            better="lower",
            target_source="set here",
            baseline=naive_load_ms,
            baseline_name="json.loads of the naive full-state JSON",
        ),
    ]
    emit(
        {
            **load,
            "steps": ROUNDS,
            "json_bytes": json_bytes,
            "gzip_bytes": gzip_bytes,
            "bytes_per_step": gzip_bytes / ROUNDS,
            "load_ms": load_ms,
            "naive_json_bytes": len(naive),
            "ratio": json_bytes / len(naive),
            "gzip_factor": json_bytes / gzip_bytes,
            "naive_load_ms": naive_load_ms,
        },
        judged,
    )


if __name__ == "__main__":
    main()
