"""Whether storing and reading a replay stays flat in cost as the replay store grows.

Replays live in the content-addressed :class:`~devspark.store.artifacts.ArtifactStore`
under ``root/replay/<first two hex digits>/<sha256>``: 256 folders, so a million
replays put about 3,900 files in each. This benchmark fills two stores in temporary
folders, a small one (the baseline, default 1,000 replays) and a large one (default
200,000), then times ``put_bytes`` (a new replay: temporary file, fsync, rename) and
``read_bytes`` (a stored one, chosen at random) on each, interleaving the two stores
sample by sample so the shared disk's noise falls on both alike.

The stores are filled by writing each file straight to the path the store gives it
(the state is the same as after as many ``put_bytes``, without an fsync each); every
payload is tiny (a few dozen bytes), so the large store takes about 800 MB of 4 KiB
blocks, and both are deleted at the end.
Target (issue 14, "replay storage that stays flat in cost as matches grow"): the p99
of each operation at the large size within 2x of the small store's in the same run.
Prints one JSON object: small, large, samples, put_ms and read_ms (p50 and p99 at each
size), fill_s, and the judged figures.

    .venv/bin/python benchmarks/replay_store.py [--small 1000 --large 200000 --samples 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from _util import emit, figure, machine, median, percentile
from devspark.store.artifacts import ArtifactRef, ArtifactStore

TARGET_RATIO = 2.0


def fill(store: ArtifactStore, count: int, tag: str) -> tuple[list[ArtifactRef], float]:
    """Put ``count`` tiny replays in ``store`` (straight to their paths); their refs, seconds."""
    started = time.perf_counter()
    refs: list[ArtifactRef] = []
    made: set[Path] = set()
    for i in range(count):
        data = f"replay {tag} {i}".encode()
        ref = ArtifactRef("replay", hashlib.sha256(data).hexdigest())
        path = store.path(ref)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(data)
        refs.append(ref)
    return refs, time.perf_counter() - started


def timed_ms(action: Callable[[], object]) -> float:
    """Milliseconds one call of ``action`` takes."""
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def measure(
    stores: dict[str, tuple[ArtifactStore, list[ArtifactRef]]], samples: int, seed: int
) -> dict[str, dict[str, list[float]]]:
    """Per store: put and read times (ms), the stores interleaved sample by sample."""
    rng = random.Random(seed)
    times: dict[str, dict[str, list[float]]] = {n: {"put": [], "read": []} for n in stores}
    for i in range(samples):
        for name, (store, refs) in stores.items():
            data = f"new replay {name} {i}".encode()
            times[name]["put"].append(timed_ms(partial(store.put_bytes, data, "replay")))
            times[name]["read"].append(timed_ms(partial(store.read_bytes, rng.choice(refs))))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1_000, help="replays in the baseline store")
    parser.add_argument("--large", type=int, default=200_000, help="replays in the large store")
    parser.add_argument("--samples", type=int, default=2_000, help="timed puts and reads each")
    args = parser.parse_args()
    load = machine()
    with tempfile.TemporaryDirectory(prefix="replay-store-") as folder:
        stores: dict[str, tuple[ArtifactStore, list[ArtifactRef]]] = {}
        fill_s: dict[str, float] = {}
        for name, count in (("small", args.small), ("large", args.large)):
            store = ArtifactStore(Path(folder) / name)
            refs, fill_s[name] = fill(store, count, name)
            stores[name] = (store, refs)
        times = measure(stores, args.samples, seed=0)
    stats = {
        op: {
            f"{name}_{q}": (
                percentile(times[name][op], 99) if q == "p99" else median(times[name][op])
            )
            for name in stores
            for q in ("p50", "p99")
        }
        for op in ("put", "read")
    }
    judged = [
        figure(
            f"replay {op} p99 with {args.large:,} stored",
            stats[op]["large_p99"],
            "ms",
            target=TARGET_RATIO * stats[op]["small_p99"],
            better="lower",
            target_source=f"issue 14: flat cost, within {TARGET_RATIO:g}x of the small store",
            baseline=stats[op]["small_p99"],
            baseline_name=f"p99 with {args.small:,} stored, same run",
        )
        for op in ("put", "read")
    ]
    emit(
        {
            "small": args.small,
            "large": args.large,
            "samples": args.samples,
            "put_ms": stats["put"],
            "read_ms": stats["read"],
            "fill_s": fill_s,
            **load,
        },
        judged,
    )


if __name__ == "__main__":
    main()
