"""Cursor pages of the match list at any depth, on a million matches in PostgreSQL.

Creates a fresh database (``DEVSPARK_BENCH_POSTGRES_URL``, default the local server;
dropped at the end), migrates it and fills it with ``generate_series``: 100 users, 100
tournaments, ``--matches`` matches (default 1,000,000; 5% failed, four scenarios, one
in ten in a tournament) and two results each (seat 0 one of 1,000 agents, seat 1
``builtin:random`` in half of them and one of those agents in the rest: about 1,500
matches per agent). Then, for the whole list and
for each common filter, times :func:`devspark.services.matches.list_matches` by cursor
(50 rows) at the head, the middle and the last page of the list, and EXPLAINs the last
page (every one should be an index range scan: ``Index Scan Backward using ix_...``).
Baseline in the same run: the offset page at the middle of the whole list (what a
client paid before cursors). Target (issue 14): p99 under 50 ms at any depth.
Prints one JSON object: matches, generate_s, offset_middle_ms, cases (per filter, per
depth, p50 and p99 in ms; the plan's scan nodes) and the judged figures.

    .venv/bin/python benchmarks/list_pages.py [--matches 1000000 --reps 200]
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from typing import Any

import psycopg
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.orm import Session

from _util import emit, figure, machine, median, percentile
from devspark.services import matches as listing
from devspark.services.playing import ensure_scenario
from devspark.store.db import make_engine, session_factory, upgrade

ADMIN_URL = os.environ.get(
    "DEVSPARK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SCENARIOS = ("tictactoe-v1", "connect_four-v1", "maze-v1", "prisoners_dilemma-v1")
TARGET_MS = 50.0
PAGE = 50

_MATCHES = """
WITH t AS (SELECT array_agg(id) AS a FROM tournaments), u AS (SELECT array_agg(id) AS a FROM users)
INSERT INTO matches (id, scenario_id, seed, options, isolation, status, tournament_id,
                     owner_id, created_at, steps, wall_ms)
SELECT gen_random_uuid(), (ARRAY['tictactoe-v1', 'connect_four-v1', 'maze-v1',
       'prisoners_dilemma-v1'])[1 + g % 4], g, '{}', 'process',
       CASE WHEN g % 20 = 0 THEN 'failed' ELSE 'finished' END,
       CASE WHEN g % 10 = 0 THEN t.a[1 + (g / 10) % 100] END,
       CASE WHEN g % 10 <> 0 THEN u.a[1 + g % 100] END,
       timestamptz '2026-01-01' + (g / 2) * interval '10 millisecond', 9, 1.0
FROM generate_series(1, :n) AS g, t, u
"""
_RESULTS = """
INSERT INTO match_results (match_id, seat, agent_ref, role, status, reward, moves, wall_ms,
                           cpu_s, peak_mb, detail)
SELECT m.id, seat,
       CASE WHEN seat = 1 AND abs(hashtext(m.id::text)) % 2 = 0 THEN 'builtin:random'
            ELSE 'agent:u/a' || abs(hashtext(m.id::text || seat)) % 1000 END,
       '', 'ok', 0, 0, 0, 0, 0, ''
FROM matches AS m, generate_series(0, 1) AS seat
"""


def generate(engine: Engine, matches: int) -> float:
    """Fill the migrated database; seconds taken (VACUUM ANALYZE included)."""
    started = time.perf_counter()
    with session_factory(engine)() as session:
        for scenario in SCENARIOS:
            ensure_scenario(session, scenario)
        session.execute(
            text(
                "INSERT INTO users (id, username, role, created_at, disabled) SELECT "
                "gen_random_uuid(), 'u' || g, 'user', now(), false FROM generate_series(1, 100) g"
            )
        )
        session.execute(
            text(
                "INSERT INTO tournaments (id, owner_id, scenario_id, format, params, seed, "
                "status, created_at) SELECT gen_random_uuid(), (SELECT min(id::text)::uuid "
                "FROM users), 'tictactoe-v1', 'round_robin', '{\"agents\": []}', 0, 'finished', "
                "timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 100) g"
            )
        )
        session.execute(text(_MATCHES), {"n": matches})
        session.execute(text(_RESULTS))
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def cursor_at(session: Session, depth: int, filters: dict[str, Any]) -> str:
    """The cursor of the page that starts at row ``depth`` (0: the head)."""
    if depth == 0:
        return ""
    row = listing.list_matches(session, offset=depth - 1, limit=1, **filters).items[0]
    return listing.MATCHES.encode(row)


def page_times(session: Session, cursor: str, filters: dict[str, Any], reps: int) -> list[float]:
    """Milliseconds of ``reps`` reads of the page at ``cursor``."""
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        page = listing.list_matches(session, cursor=cursor, limit=PAGE, **filters)
        times.append((time.perf_counter() - started) * 1000)
        assert page.items, "an empty page"
        session.expire_all()
    return times


def plan(engine: Engine, session: Session, cursor: str, filters: dict[str, Any]) -> list[str]:
    """The scan nodes of ``EXPLAIN ANALYZE`` for the page the service reads at ``cursor``."""
    sent: list[tuple[str, Any]] = []

    def grab(*args: Any) -> None:
        sent.append((args[2], args[3]))  # statement, parameters

    event.listen(engine, "before_cursor_execute", grab)
    try:
        listing.list_matches(session, cursor=cursor, limit=PAGE, **filters)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, parameters = sent[-1]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters)
        lines = [str(row[0]).strip() for row in cur.fetchall()]
        cur.close()
    finally:
        raw.close()
    return [line.lstrip("-> ") for line in lines if "Scan" in line or "Execution" in line]


def cases(session: Session) -> dict[str, dict[str, Any]]:
    """The listings timed: the whole list and each common filter."""
    cup = session.execute(
        text("SELECT tournament_id FROM matches WHERE tournament_id IS NOT NULL LIMIT 1")
    ).scalar()
    return {
        "all": {},
        "status=failed": {"status": "failed"},
        "scenario=maze": {"scenario": "maze"},
        "tournament_id": {"tournament_id": cup},
        "agent=agent:u/a7": {"agent": "agent:u/a7"},  # about 1,500 matches
        "agent=builtin:random": {"agent": "builtin:random"},  # about 500,000
    }


def measure(engine: Engine, reps: int) -> dict[str, dict[str, Any]]:
    """Per listing: p50/p99 at the head, middle and last page, and the last page's plan."""
    found: dict[str, dict[str, Any]] = {}
    with session_factory(engine)() as session:
        for label, filters in cases(session).items():
            total = listing.list_matches(session, limit=1, **filters).total or 0
            depths: dict[str, Any] = {}
            for where, depth in (("head", 0), ("middle", total // 2), ("last", total - PAGE)):
                depth = max(0, depth)
                cursor = cursor_at(session, depth, filters)
                times = page_times(session, cursor, filters, reps)
                depths[where] = {"depth": depth, "p50": median(times), "p99": percentile(times, 99)}
                print(
                    f"{label:24} {where:6} depth {depth:>9,}: p50 {depths[where]['p50']:.2f} ms, "
                    f"p99 {depths[where]['p99']:.2f} ms"
                )
            found[label] = {
                "total": total,
                **depths,
                "plan": plan(engine, session, cursor, filters),
            }
            print(f"  {total:,} matches; last page plan: {' | '.join(found[label]['plan'])}")
    return found


def offset_middle_ms(engine: Engine, matches: int) -> float:
    """Median milliseconds of the offset page at the middle of the whole list (5 reads)."""
    times = []
    with session_factory(engine)() as session:
        for _ in range(5):
            started = time.perf_counter()
            listing.list_matches(session, offset=matches // 2, limit=PAGE)
            times.append((time.perf_counter() - started) * 1000)
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matches", type=int, default=1_000_000, help="matches stored")
    parser.add_argument("--reps", type=int, default=200, help="timed reads per page")
    args = parser.parse_args()
    load = machine()
    admin = make_url(ADMIN_URL)
    name = f"devspark_bench_lists_{secrets.token_hex(4)}"
    libpq = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(admin.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        generate_s = generate(engine, args.matches)
        print(f"generated {args.matches:,} matches in {generate_s:.0f} s")
        found = measure(engine, args.reps)
        offset_ms = offset_middle_ms(engine, args.matches)
    finally:
        engine.dispose()
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    judged = [
        figure(
            f"match list p99 by cursor, any depth, {label}",
            max(found[label][where]["p99"] for where in ("head", "middle", "last")),
            "ms",
            target=TARGET_MS,
            better="lower",
            target_source="issue 14",
            baseline=offset_ms,
            baseline_name=f"offset page at {args.matches // 2:,}, median, same run",
        )
        for label in found
    ]
    emit(
        {
            "matches": args.matches,
            "generate_s": generate_s,
            "offset_middle_ms": offset_ms,
            "cases": found,
            **load,
        },
        judged,
    )


if __name__ == "__main__":
    main()
