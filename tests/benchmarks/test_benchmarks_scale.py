"""The scale benchmark (benchmarks/scale.py) and its synthetic data (benchmarks/_scale_data.py)."""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import _scale_data as synthetic  # benchmarks/ is not a package
import scale
from devspark.services.boards import Seat, tally

CONTRACT_KEYS = (
    "agents",
    "matches",
    "board_refresh_s",
    "board_read_ms_p99",
    "swiss_round_pairing_s",
    "ladder_pick_ms",
    "match_list_ms_p99",
    "store_result_ms_p99",
)


def _seats(data: synthetic.Synthetic, n: int) -> list[Seat]:
    """The seats of synthetic match ``n`` as store_result would store them."""
    p0 = float(data.points0[n])
    rewards = (0.0, 0.0) if p0 == 0.5 else (1.0, -1.0) if p0 else (-1.0, 1.0)
    late = bool(data.timeout[n])
    seats = []
    for seat, (agent, moves) in enumerate(
        ((data.seat0[n], data.moves0[n]), (data.seat1[n], data.moves1[n]))
    ):
        lost = rewards[seat] < 0
        status = "timeout" if late and lost else "ok"
        seats.append(
            Seat(data.refs[int(agent)], rewards[seat], status, int(moves) * 0.002, int(moves))
        )
    return seats


def test_synthetic_aggregates_equal_what_storing_each_match_counts() -> None:
    data = synthetic.generate(30, 3000, seed=5)
    pairs: Counter[tuple[str, str, str, str]] = Counter()
    records: dict[tuple[str, str, str], list[float]] = {}
    for n in range(data.matches):
        counted = tally(synthetic.SCENARIOS[int(data.scenario[n])][0], _seats(data, n))
        assert counted is not None
        for board in counted.boards:
            for a, b, win, loss, draw in counted.pairs:
                pairs[(board, a, b, "wins")] += win
                pairs[(board, a, b, "losses")] += loss
                pairs[(board, a, b, "draws")] += draw
            for agent, status, wins, draws, losses, cpu_s, moves in counted.records:
                line = records.setdefault((board, agent, status), [0, 0, 0, 0, 0.0, 0])
                for i, value in enumerate((1, wins, draws, losses, cpu_s, moves)):
                    line[i] += value
    got_pairs = synthetic.pair_rows(data)
    assert {
        (board, a, b, name): count
        for board, a, b, wins, losses, draws in got_pairs
        for name, count in (("wins", wins), ("losses", losses), ("draws", draws))
    } == dict(pairs)
    got_records = {(r[0], r[1], r[2]): list(r[3:]) for r in synthetic.record_rows(data)}
    assert got_records.keys() == records.keys()
    for key, (matches, wins, draws, losses, cpu_s, moves) in got_records.items():
        want = records[key]
        assert [matches, wins, draws, losses, moves] == [*want[:4], want[5]], key
        assert math.isclose(cpu_s, want[4], rel_tol=1e-6), key
    assert sum(line[0] for (board, _, _), line in records.items() if board == "global") == 6000


def test_synthetic_matches_pair_rating_neighbours_and_favour_the_stronger() -> None:
    data = synthetic.generate(400, 20_000, seed=1)
    assert (data.seat0 != data.seat1).all()
    rank = {agent: r for r, agent in enumerate((-data.strength).argsort().tolist())}
    gaps = [abs(rank[int(a)] - rank[int(b)]) for a, b in zip(data.seat0, data.seat1, strict=True)]
    near = sum(gap <= synthetic.NEIGHBOURS for gap in gaps) / len(gaps)
    assert 0.93 < near < 0.99
    decided = data.points0 != 0.5
    stronger_first = data.strength[data.seat0] > data.strength[data.seat1]
    upsets = ((data.points0 == 1.0) != stronger_first)[decided].mean()
    assert 0.2 < upsets < 0.45
    assert 0.02 < (~decided).mean() < 0.04


def _bench_databases(url: str) -> set[str]:
    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'devspark_scale_%'"
        ).fetchall()
    return {name for (name,) in rows}


def _tiny_run(url: str) -> tuple[dict[str, Any], list[Any]]:
    return scale.run(
        50,
        2000,
        stores=100,
        rounds=4,
        list_repeats=2,
        reads=20,
        swiss_entrants=64,
        ladder_agents=50,
        subsample=(20, 500),
        admin_url=url,
    )


@pytest.mark.integration
def test_a_tiny_run_gives_every_key_and_drops_its_databases(postgres_url: str) -> None:
    before = _bench_databases(postgres_url)
    out, judged = _tiny_run(postgres_url)
    assert not _bench_databases(postgres_url) - before
    missing = [key for key in CONTRACT_KEYS if key not in out]
    assert not missing
    assert (out["agents"], out["matches"]) == (50, 2000)
    for key in CONTRACT_KEYS[2:]:
        assert 0 < out[key] < 60_000, (key, out[key])
    assert out["match_list_pages"] == 2 * 3 * 5  # depths 0, 1,000 and the last page; 5 filters
    assert out["load_s"] > 0
    assert {figure.name.split(",")[0] for figure in judged} >= {
        "store_result p99",
        "board read p99",
    }


@pytest.mark.integration
def test_a_failed_run_drops_its_databases(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _bench_databases(postgres_url)

    def fail(*_: Any, **__: Any) -> dict[str, Any]:
        raise RuntimeError("a measurement failed")

    monkeypatch.setattr(scale, "match_lists", fail)
    with pytest.raises(RuntimeError, match="a measurement failed"):
        _tiny_run(postgres_url)
    assert not _bench_databases(postgres_url) - before
