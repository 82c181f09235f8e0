"""Size and load time of a 10,000-step replay.

Records a 10,000-round iterated prisoner's dilemma between two sandboxed agents
(``builtin:tit-for-tat`` and ``builtin:random``, difficulty 3: noisy moves) and writes
it as JSON and as gzip JSON, then times ``load_replay`` and rebuilding every state.
The baseline, in the same run, is ``json.dumps``/``json.loads`` of the same steps
stored naively (the full ``render_state()`` at every step, no deltas).
Prints one JSON object: steps, json_bytes, gzip_bytes, bytes_per_step (gzip),
load_ms (gzip file, states rebuilt), naive_json_bytes and ratio (json / naive).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from _util import emit
from devspark.arena.match import MatchSpec
from devspark.arena.replay import load_replay, record_match, write_replay

ROUNDS = 10_000


def main() -> None:
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
    emit(
        {
            "steps": ROUNDS,
            "json_bytes": json_bytes,
            "gzip_bytes": gzip_bytes,
            "bytes_per_step": gzip_bytes / ROUNDS,
            "load_ms": load_ms,
            "naive_json_bytes": len(naive),
            "ratio": json_bytes / len(naive),
        }
    )


if __name__ == "__main__":
    main()
