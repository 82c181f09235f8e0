"""Scale: a thousand agents and a million stored matches on PostgreSQL (issue 14).

``benchmarks/scale.py [--agents N --matches M]`` creates a fresh database on the
PostgreSQL server ``DEVSPARK_BENCH_POSTGRES_URL`` names (default the local one),
migrates it with :func:`devspark.store.db.upgrade`, fills it with synthetic stored
results (:mod:`_scale_data`: ``COPY`` of users, agents, versions, scenarios,
tournaments, matches, two result rows per match and the board aggregates), measures,
and drops it at the end, also on failure. Measured in one run:

* ``load_s``: generating and copying the data, indexes and ``VACUUM ANALYZE`` included.
* ``store_result_ms_p99``: :func:`devspark.services.playing.store_result` of new
  finished matches into the big database, each claimed first as a worker claims it
  (:func:`~devspark.services.queue.claim_match`); only the store is timed. Baseline:
  the same calls on an empty database (same registry rows), same run.
* ``board_refresh_s``: :meth:`devspark.services.boards.BoardKeeper.refresh` after each
  round of stored matches (the worst round; ``board_cold_start_s``: the first refresh
  of a keeper, which loads the aggregates). Baseline: ``build_leaderboards`` over a
  100-agent, 10,000-match subsample, the path every board read took before.
* ``board_read_ms_p99``: :func:`devspark.services.boards.read_boards` on the big
  database (the stored JSON, read from the database every time); baseline: the same on
  the empty one. Beside it ``board_read_keeper_ms_p99`` (``BoardKeeper.read``, which
  serves its last body while ``built_at`` has not moved) and
  ``board_http_read_ms_p99`` (``GET /api/v1/leaderboards/boards`` on an in-process
  API server), with ``board_body_kb``, the size of what is served.
* ``match_list_ms_p99``: :func:`devspark.services.matches.list_matches` by cursor at
  depths 0, 1,000, 100,000, 500,000 and the last page, unfiltered and filtered by
  status, scenario, agent and tournament. Baseline: an offset page at depth 1,000.
* ``swiss_round_pairing_s``: the worst round of a whole Swiss for 1,024 entrants
  (``benchmarks/swiss_pairing.py``); ``ladder_pick_ms``: p99 of a ladder pick for 1,000
  agents (``benchmarks/ladder_pick.py``). Each is left out when its benchmark is missing.

The default size is the issue's (1,000 agents, 1,000,000 matches: 3-5 minutes on 2
cores, most of it loading; docs/architecture.md "Scale" gives its figures);
``BENCH_SCALE_MATCHES`` changes the default, and ``make bench`` sets it to 100,000.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _scale_data as synthetic
from _util import Figure, emit, figure, machine, percentile

ADMIN_URL = os.environ.get(
    "DEVSPARK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DEFAULT_AGENTS = 1000
DEFAULT_MATCHES = int(os.environ.get("BENCH_SCALE_MATCHES", "1000000"))
SOURCE = "issue 14"


def _libpq(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(admin_url: str, label: str) -> Iterator[str]:
    """Create a migrated database of its own; yield its URL; drop it (also on failure)."""
    import psycopg
    from sqlalchemy import make_url

    from devspark.store.db import upgrade

    name = f"devspark_scale_{label}_{secrets.token_hex(4)}"
    admin = _libpq(admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load(url: str, data: synthetic.Synthetic, *, matches: bool) -> dict[str, float]:
    """Copy the registry rows (and the matches, results and boards): seconds per part."""
    import psycopg

    spent: dict[str, float] = {}
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        started = time.perf_counter()
        synthetic.load_registry(conn, data)
        if matches:
            synthetic.load_matches(conn, data)
            spent["load_matches_s"] = time.perf_counter() - started
            if synthetic.has_board_tables(conn):
                boards = synthetic.load_boards(conn, data)
                spent.update({f"load_boards_{k}": v for k, v in boards.items()})
        conn.commit()
        vacuumed = time.perf_counter()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        spent["vacuum_analyze_s"] = time.perf_counter() - vacuumed
        spent["load_s"] = time.perf_counter() - started
    return spent


# --- storing results -------------------------------------------------------------------


class Storer:
    """Stores new finished two-seat matches the way a worker does: claim, then store.

    Besides the wall time of each ``store_result`` it keeps the CPU time of the calling
    thread (Python: SQLAlchemy, psycopg, the service) and the time and number of the
    SQL statements it ran (the database's share, round trips included).
    """

    def __init__(self, url: str, data: synthetic.Synthetic, seed: int) -> None:
        from sqlalchemy import event

        from devspark.services.queue import WorkerIdentity, register_worker
        from devspark.store.db import make_engine, session_factory

        self.engine = make_engine(url)
        self.factory = session_factory(self.engine)
        self.data = data
        self.rng = random.Random(seed)
        self.cpu_ms: list[float] = []
        self.sql_ms: list[float] = []
        self.statements: list[int] = []
        self._sql = [0.0, 0.0, 0.0]  # started, ms, statements
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        with self.factory() as session:
            self.worker_id = register_worker(session, WorkerIdentity.here("bench-scale"))

    def _before(self, *_: Any) -> None:
        self._sql[0] = time.perf_counter()

    def _after(self, *_: Any) -> None:
        self._sql[1] += (time.perf_counter() - self._sql[0]) * 1000
        self._sql[2] += 1

    def close(self) -> None:
        """Release the engine."""
        self.engine.dispose()

    def store(self, count: int) -> list[float]:
        """Queue ``count`` matches, then claim and store each: the store times (ms)."""
        from devspark.core.results import AgentResult, MatchResult
        from devspark.services.playing import store_result
        from devspark.services.queue import claim_match
        from devspark.store.models import MatchRow

        data, rng = self.data, self.rng
        scenario_ids = [s for s, _ in synthetic.SCENARIOS]
        with self.factory() as session:
            planned = []
            for _ in range(count):
                a = rng.randrange(data.agents)
                b = (a + rng.randint(1, min(synthetic.NEIGHBOURS, data.agents - 1))) % data.agents
                pair = [data.refs[a], data.refs[b]]
                row = MatchRow(
                    scenario_id=rng.choice(scenario_ids),
                    seed=rng.randrange(1 << 30),
                    options={
                        "reset": {},
                        "pairing": {"round": 0, "label": "match", "agents": pair},
                    },
                    isolation="sandbox",
                    status="queued",
                    owner_id=uuid.UUID(data.ids["users"][1]),
                )
                planned.append((row, a, b))
            session.add_all(row for row, _, _ in planned)
            session.commit()
            times = []
            for row, a, b in planned:
                claim = claim_match(session, self.worker_id, match_id=row.id)
                assert claim is not None, row.id
                win = synthetic.sigmoid(float(data.strength[a] - data.strength[b]))
                first = 1.0 if rng.random() < win else -1.0
                result = MatchResult(
                    scenario=row.scenario_id,
                    seed=row.seed,
                    agents=[
                        AgentResult(data.refs[a], "player_0", reward=first, moves=5, cpu_s=0.01),
                        AgentResult(data.refs[b], "player_1", reward=-first, moves=4, cpu_s=0.008),
                    ],
                    steps=9,
                    wall_ms=50.0,
                )
                self._sql[1:] = [0.0, 0.0]
                started, cpu = time.perf_counter(), time.thread_time()
                stored = store_result(session, row, result, worker_id=self.worker_id)
                times.append((time.perf_counter() - started) * 1000)
                self.cpu_ms.append((time.thread_time() - cpu) * 1000)
                self.sql_ms.append(self._sql[1])
                self.statements.append(int(self._sql[2]))
                assert stored, row.id
        return times


# --- listing matches --------------------------------------------------------------------


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return (time.perf_counter() - started) * 1000, value


def match_lists(url: str, data: synthetic.Synthetic, *, repeats: int, seed: int) -> dict[str, Any]:
    """Cursor pages at several depths, with and without filters: times (ms) per filter."""
    from sqlalchemy import func, select

    from devspark.services.keyset import START
    from devspark.services.matches import MATCHES, list_matches
    from devspark.store.db import make_engine, session_factory
    from devspark.store.models import MatchRow

    rng = random.Random(seed)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            total = session.scalar(select(func.count()).select_from(MatchRow)) or 0
            depths = sorted({d for d in (0, 1000, 100_000, 500_000, total - 50) if 0 <= d < total})
            cursors = {0: START}
            for depth in depths:
                if depth:  # the last row of the page before: what a walk's cursor holds
                    before = session.execute(
                        select(MatchRow.created_at, MatchRow.id)
                        .order_by(*MATCHES.order())
                        .offset(depth - 1)
                        .limit(1)
                    ).one()
                    cursors[depth] = MATCHES.encode(before)
            filters: dict[str, Callable[[], dict[str, Any]]] = {
                "none": dict,
                "status": lambda: {"status": rng.choice(["finished", "failed"])},
                "scenario": lambda: {"scenario": rng.choice(synthetic.SCENARIOS)[0]},
                "agent": lambda: {"agent": rng.choice(data.refs)},
                "tournament": lambda: {
                    "tournament_id": uuid.UUID(rng.choice(data.ids["tournaments"]))
                },
            }
            times: dict[str, list[float]] = {name: [] for name in filters}
            by_depth: dict[int, list[float]] = {depth: [] for depth in depths}
            for _ in range(repeats):
                for depth in depths:
                    for name, make in filters.items():
                        kwargs = make()
                        ms, page = _timed(
                            lambda kw=kwargs, d=depth: list_matches(  # type: ignore[misc]
                                session, cursor=cursors[d], limit=50, **kw
                            )
                        )
                        session.rollback()  # each page its own transaction, as a request
                        assert name != "none" or len(page.items) == min(50, total - depth)
                        times[name].append(ms)
                        by_depth[depth].append(ms)
            shallow = [
                _timed(lambda: list_matches(session, offset=1000, limit=50))[0]
                for _ in range(max(3, repeats))
            ]
            deep = [
                _timed(lambda: list_matches(session, offset=total // 2, limit=50))[0]
                for _ in range(3)
            ]
    finally:
        engine.dispose()
    everything = [ms for values in times.values() for ms in values]
    return {
        "match_list_ms_p99": percentile(everything, 99),
        "match_list_ms_p50": percentile(everything, 50),
        "match_list_pages": len(everything),
        "match_list_ms_p99_by_filter": {k: percentile(v, 99) for k, v in times.items()},
        "match_list_ms_p99_by_depth": {str(k): percentile(v, 99) for k, v in by_depth.items()},
        "match_list_offset_1000_ms_p99": percentile(shallow, 99),
        "match_list_offset_middle_ms_p50": percentile(deep, 50),
    }


# --- boards -----------------------------------------------------------------------------


def keeper_class() -> Any:
    """The board keeper of issue 14 (``None`` while it is not in this tree)."""
    for name in ("devspark.services.board_keeper", "devspark.services.boards"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "BoardKeeper"):
            return module.BoardKeeper
    return None


def board_reads(url: str, reads: int, keeper: Any = None) -> dict[str, list[float]]:
    """Times (ms) of ``read_boards`` (and of ``keeper.read``), both methods, a session each.

    Returns:
        ``"read_boards"`` (and ``"keeper"``) times, and ``"kb"``: the size of each body.
    """
    from devspark.services import boards
    from devspark.store.db import make_engine, session_factory

    engine = make_engine(url)
    made = session_factory(engine)
    readers: dict[str, Callable[[Any, str], str]] = {"read_boards": boards.read_boards}
    if keeper is not None:
        readers["keeper"] = keeper.read
    times: dict[str, list[float]] = {name: [] for name in readers}
    sizes: list[float] = []
    try:
        for n in range(reads):
            method = "bradley_terry" if n % 2 == 0 else "openskill"
            for name, read in readers.items():
                with made() as session:
                    ms, body = _timed(lambda r=read, s=session, m=method: r(s, m))  # type: ignore[misc]
                assert body.startswith("{"), body[:80]
                times[name].append(ms)
                sizes.append(len(body) / 1024)
    finally:
        engine.dispose()
    return {**times, "kb": sizes}


def http_reads(url: str, reads: int) -> list[float]:
    """Times (ms) of ``GET /api/v1/leaderboards/boards`` on an in-process API server.

    Run right after a refresh: the server's own keeper follows the benchmark's (which
    holds the lease), so the reads do not share the cores with its cold start.
    """
    import tempfile

    from fastapi.testclient import TestClient

    from devspark.server.app import create_app
    from devspark.server.settings import Settings

    times = []
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.from_env(
            data_dir=Path(folder),
            database_url=url,
            dev_mode=True,
            rate_limit="1000000/second",
            rate_limit_ip="1000000/second",
            environ={},
        )
        with TestClient(create_app(settings)) as client:
            for n in range(-2, reads):  # two untimed reads warm the app up
                method = "bradley_terry" if n % 2 == 0 else "openskill"
                ms, response = _timed(
                    lambda m=method: client.get("/api/v1/leaderboards/boards", params={"method": m})  # type: ignore[misc]
                )
                assert response.status_code == 200, response.text[:200]
                if n >= 0:
                    times.append(ms)
    return times


def store_and_refresh(
    url: str, data: synthetic.Synthetic, *, stores: int, rounds: int, seed: int, reads: int
) -> dict[str, Any]:
    """Store ``stores`` results in ``rounds``, the board keeper refreshing after each."""
    keeper_type = keeper_class()
    out: dict[str, Any] = {}
    storer = Storer(url, data, seed)
    keeper: Any = None
    stored: list[float] = []
    refreshes: list[Any] = []
    try:
        if keeper_type is not None:
            keeper = keeper_type(storer.factory)
            cold = keeper.refresh()
            out["board_cold_start_s"] = cold.seconds
            out["board_cold_start_fit_s"] = cold.fit_s
        for _ in range(rounds):
            stored += storer.store(stores // rounds)
            if keeper is not None:
                stats = keeper.refresh()
                assert stats.matches_applied == stores // rounds, stats
                refreshes.append(stats)
    finally:
        storer.close()
    out["store_result_ms_p50"] = percentile(stored, 50)
    out["store_result_ms_p99"] = percentile(stored, 99)
    out["store_result_cpu_ms_p50"] = percentile(storer.cpu_ms, 50)
    out["store_result_sql_ms_p50"] = percentile(storer.sql_ms, 50)
    out["store_result_statements"] = percentile([float(n) for n in storer.statements], 50)
    if keeper is not None:
        seconds = [stats.seconds for stats in refreshes]
        out["board_refresh_s"] = max(seconds)
        out["board_refresh_s_p50"] = percentile(seconds, 50)
        out["board_refresh_fit_s_max"] = max(stats.fit_s for stats in refreshes)
        out["board_refresh_bootstrapped"] = [stats.bootstrapped for stats in refreshes]
        read = board_reads(url, reads, keeper)
        out["board_read_ms_p99"] = percentile(read["read_boards"], 99)
        out["board_read_ms_p50"] = percentile(read["read_boards"], 50)
        out["board_read_keeper_ms_p99"] = percentile(read["keeper"], 99)
        out["board_body_kb"] = max(read["kb"])
        http = http_reads(url, min(reads, 100))
        out["board_http_read_ms_p99"] = percentile(http, 99)
        out["board_http_read_ms_p50"] = percentile(http, 50)
    return out


def subsample_build_s(agents: int, matches: int, seed: int) -> float:
    """Seconds ``build_leaderboards`` takes over a subsample: every board read before."""
    from devspark.rating.leaderboard import build_leaderboards
    from devspark.rating.outcomes import Outcome

    data = synthetic.generate(agents, matches, seed)
    scenario_ids = [s for s, _ in synthetic.SCENARIOS]
    outcomes = []
    for n in range(data.matches):
        p0 = float(data.points0[n])
        outcomes.append(
            Outcome(
                agents=(data.refs[int(data.seat0[n])], data.refs[int(data.seat1[n])]),
                scores=(p0, 1.0 - p0),
                scenario=scenario_ids[int(data.scenario[n])],
                cpu_s=(0.01, 0.01),
                moves=(int(data.moves0[n]), int(data.moves1[n])),
                statuses=("ok", "ok"),
            )
        )
    domains = dict(synthetic.SCENARIOS)
    started = time.perf_counter()
    build_leaderboards(outcomes, domains, bootstrap=100)
    return time.perf_counter() - started


# --- the other parts' benchmarks ----------------------------------------------------------


def swiss_round(entrants: int) -> dict[str, Any]:
    """The worst round's pairing time of a whole Swiss, and the pairing before issue 14.

    Empty while ``benchmarks/swiss_pairing.py`` is missing.
    """
    try:
        module = importlib.import_module("swiss_pairing")
    except ImportError:
        return {}
    before = min(entrants, int(getattr(module, "BASELINE_ENTRANTS", 256)))
    return {
        "swiss_round_pairing_s": float(module.round_pairing_s(entrants)["worst_round_s"]),
        "swiss_entrants": entrants,
        "swiss_baseline_s": float(module.round_pairing_s(before, exact=True)["worst_round_s"]),
        "swiss_baseline_name": f"worst round before issue 14, {before} entrants",
    }


def ladder_pick(agents: int) -> dict[str, Any]:
    """p99 of a ladder pick, its target and the full-table pick before issue 14.

    Empty while ``benchmarks/ladder_pick.py`` is missing.
    """
    try:
        module = importlib.import_module("ladder_pick")
    except ImportError:
        return {}
    now = module.pick_ms(agents)
    before = module.pick_ms(agents, int(module.BASELINE_BATCHES), full_table=True)
    return {
        "ladder_pick_ms": float(now["p99_ms"]),
        "ladder_pick_ms_p50": float(now["p50_ms"]),
        "ladder_agents": agents,
        "ladder_pick_target_ms": float(module.TARGET_P99_MS),
        "ladder_baseline_ms": float(before["p99_ms"]),
        "ladder_baseline_name": f"the full-table pick p99 (before issue 14), {agents:,} agents",
    }


# --- the run ----------------------------------------------------------------------------


def run(
    agents: int = DEFAULT_AGENTS,
    matches: int = DEFAULT_MATCHES,
    *,
    stores: int = 2000,
    rounds: int = 10,
    list_repeats: int = 10,
    reads: int = 200,
    swiss_entrants: int = 1024,
    ladder_agents: int = 1000,
    subsample: tuple[int, int] = (100, 10_000),
    admin_url: str = ADMIN_URL,
    seed: int = 0,
) -> tuple[dict[str, Any], list[Figure]]:
    """Measure everything (see the module docstring): the figures and the judged ones."""
    out: dict[str, Any] = {"agents": agents, "matches": matches, "subsample": list(subsample)}
    started = time.perf_counter()
    data = synthetic.generate(agents, matches, seed)
    out["generate_s"] = time.perf_counter() - started
    with fresh_database(admin_url, "empty") as url:
        load(url, data, matches=False)
        storer = Storer(url, data, seed)
        try:
            out["store_result_empty_ms_p99"] = percentile(storer.store(min(stores, 500)), 99)
        finally:
            storer.close()
        if keeper_class() is not None:
            empty = board_reads(url, min(reads, 100))["read_boards"]
            out["board_read_empty_ms_p99"] = percentile(empty, 99)
    with fresh_database(admin_url, "big") as url:
        out.update(load(url, data, matches=True))
        print(f"loaded {matches:,} matches of {agents:,} agents in {out['load_s']:.1f} s")
        out.update(match_lists(url, data, repeats=list_repeats, seed=seed))
        out.update(
            store_and_refresh(url, data, stores=stores, rounds=rounds, seed=seed + 1, reads=reads)
        )
    out["build_leaderboards_subsample_s"] = subsample_build_s(*subsample, seed)
    out.update(swiss_round(swiss_entrants))
    out.update(ladder_pick(ladder_agents))
    return out, judge(out)


def judge(out: dict[str, Any]) -> list[Figure]:
    """Print each figure present in ``out`` against its target and same-run baseline."""
    subsample = "build_leaderboards over a subsample ({:,} agents x {:,} matches)".format(
        *out.get("subsample", (0, 0))
    )
    specs = [  # key, what, unit, target, its source, baseline key, the baseline
        (
            "store_result_ms_p99",
            f"store_result p99, {out['matches']:,} matches stored",
            "ms",
            10.0,
            SOURCE,
            "store_result_empty_ms_p99",
            "store_result p99 on an empty database",
        ),
        (
            "match_list_ms_p99",
            "match list p99, cursor pages at any depth and filter",
            "ms",
            50.0,
            SOURCE,
            "match_list_offset_1000_ms_p99",
            "offset page at depth 1,000 (counts the list)",
        ),
        (
            "board_refresh_s",
            "board refresh after a round of stored matches (worst)",
            "s",
            1.0,
            SOURCE,
            "build_leaderboards_subsample_s",
            subsample,
        ),
        (
            "board_read_ms_p99",
            "board read p99",
            "ms",
            50.0,
            SOURCE,
            "board_read_empty_ms_p99",
            "read_boards p99 on an empty database",
        ),
        (
            "swiss_round_pairing_s",
            f"Swiss round pairing, {out.get('swiss_entrants', 0):,} entrants (worst round)",
            "s",
            1.0,
            SOURCE,
            "swiss_baseline_s",
            out.get("swiss_baseline_name", ""),
        ),
        (
            "ladder_pick_ms",
            f"ladder pick p99, {out.get('ladder_agents', 0):,} agents",
            "ms",
            out.get("ladder_pick_target_ms", 0.0),
            "benchmarks/ladder_pick.py",
            "ladder_baseline_ms",
            out.get("ladder_baseline_name", ""),
        ),
    ]
    return [
        figure(
            what,
            out[key],
            unit,
            target=target,
            better="lower",
            target_source=source,
            baseline=out[baseline_key],
            baseline_name=baseline_name,
        )
        for key, what, unit, target, source, baseline_key, baseline_name in specs
        if key in out
    ]


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run, print the figures and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=DEFAULT_AGENTS)
    parser.add_argument("--matches", type=int, default=DEFAULT_MATCHES)
    parser.add_argument("--stores", type=int, default=2000, help="results stored and timed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    load_avg = machine()
    out, judged = run(args.agents, args.matches, stores=args.stores, seed=args.seed)
    emit({**load_avg, **out}, judged)


if __name__ == "__main__":
    main()
