"""Synthetic stored results for benchmarks/scale.py, written with PostgreSQL ``COPY``.

The data is what a platform with ``agents`` uploaded agents and ``matches`` finished
two-seat matches would hold, drawn from a Bradley-Terry model:

* Agents ``agent:bench/a0001@1.0.0`` ... (one user ``bench`` owns them, each with one
  registered version, so ``match_results.agent_version_id`` is set as the server sets
  it), true strengths ~ N(0, 1.5) logits. Twenty more users start matches of their own.
* Four real scenarios (tic-tac-toe, Connect Four, prisoner's dilemma, foraging) with
  their domain tags, so there are 4 scenario boards and 3 domain boards.
* ``matches`` finished matches, oldest first, one every two seconds (``created_at`` and
  ``finished_at`` increasing), ending an hour ago. 40 % belong to one of the
  tournaments (contiguous stretches of time, one scenario each), the rest have an
  ``owner_id``; plus 1 % ``failed`` matches without results in between. Each pairs an
  agent with a rating neighbour (within 50 ranks) or, 5 % of the time, with anyone;
  3 % are draws, otherwise the first wins with probability ``1 / (1 + exp(s_b - s_a))``;
  0.5 % of the losers ``timeout``.
* The board aggregates of migration 0009 (``board_pairs``, ``board_records``,
  ``board_skill``, ``board_history``, ``board_state``), computed with numpy from the
  same results, so they hold what the upserts of ``store_result`` would have written.
  ``board_pairs`` and ``board_records`` are exact. ``board_skill`` and
  ``board_history`` are approximations (an online OpenSkill over a million matches
  costs minutes in Python): ``mu = 25 + 2.2 * strength`` (the logit scale of
  PlackettLuce with beta 25/16), ``sigma = max(0.8, (25 / 3) / sqrt(1 + n / 4))``
  after ``n`` matches, and each agent's history approaches its final ``mu``
  exponentially along its own rated matches (the global match numbers it played in,
  thinned to 400 points as the keeper thins them). ``board_inbox`` stays empty: every
  match is counted and applied.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

SCENARIOS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tictactoe-v1", ("game",)),
    ("connect_four-v1", ("game",)),
    ("prisoners_dilemma-v1", ("adversarial", "collaboration")),
    ("foraging-v1", ("collaboration",)),
)
"""The scenarios the synthetic matches play, with their domain tags (as registered)."""

STATUSES = ("ok", "timeout")
NEIGHBOURS = 50
UNIFORM_SHARE = 0.05
DRAW_SHARE = 0.03
TIMEOUT_SHARE = 0.005
TOURNAMENT_SHARE = 0.4
FAILED_SHARE = 0.01
OWNERS = 20
HISTORY_POINTS = 400
SPACING_S = 2.0
CHUNK = 50_000
OWNER = "bench"


def agent_ref(index: int) -> str:
    """The registry reference of synthetic agent ``index`` (zero-padded: sorts as ints)."""
    return f"agent:{OWNER}/a{index:05d}@1.0.0"


def _uuids(rng: np.random.Generator, count: int) -> list[str]:
    raw = rng.bytes(16 * count)
    return [str(uuid.UUID(bytes=raw[i * 16 : i * 16 + 16], version=4)) for i in range(count)]


@dataclass
class Synthetic:
    """The synthetic results, as numpy arrays over the finished matches (oldest first).

    Attributes:
        agents: How many agents.
        matches: How many finished matches.
        refs: Agent references; index order is string order.
        strength: True Bradley-Terry strength (logits) per agent.
        scenario: Scenario index (into :data:`SCENARIOS`) per match.
        seat0: Agent index in seat 0 per match.
        seat1: Agent index in seat 1 per match.
        points0: Seat 0's points against seat 1 (1, 0.5 or 0).
        timeout: Whether the loser's status is ``timeout``.
        moves0: Moves of seat 0.
        moves1: Moves of seat 1.
        tournament: Tournament index per match, -1 for a match of its own.
        owner: Owner index per match, -1 for a tournament's match.
        tournament_scenario: Scenario index per tournament.
    """

    agents: int
    matches: int
    refs: list[str]
    strength: np.ndarray
    scenario: np.ndarray
    seat0: np.ndarray
    seat1: np.ndarray
    points0: np.ndarray
    timeout: np.ndarray
    moves0: np.ndarray
    moves1: np.ndarray
    tournament: np.ndarray
    owner: np.ndarray
    tournament_scenario: np.ndarray
    ids: dict[str, Any] = field(default_factory=dict)

    @property
    def tournaments(self) -> int:
        """How many tournaments the matches belong to."""
        return len(self.tournament_scenario)


def generate(agents: int, matches: int, seed: int = 0) -> Synthetic:
    """Draw the synthetic results (see the module docstring)."""
    if agents < 2:
        raise ValueError(f"agents={agents}: need at least 2")
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 1.5, agents)
    by_rank = np.argsort(-strength)  # rank -> agent
    first_rank = rng.integers(0, agents, matches)
    offset = rng.integers(1, NEIGHBOURS + 1, matches) * rng.choice([-1, 1], matches)
    second_rank = first_rank + offset
    second_rank = np.where(second_rank < 0, first_rank - offset, second_rank)
    second_rank = np.where(second_rank >= agents, first_rank - np.abs(offset), second_rank)
    second_rank = np.clip(second_rank, 0, agents - 1)
    uniform = rng.random(matches) < UNIFORM_SHARE
    anyone = (first_rank + rng.integers(1, agents, matches)) % agents
    second_rank = np.where(uniform, anyone, second_rank)
    same = second_rank == first_rank
    second_rank[same] = (first_rank[same] + 1) % agents
    a, b = by_rank[first_rank], by_rank[second_rank]
    swap = rng.random(matches) < 0.5
    seat0, seat1 = np.where(swap, b, a), np.where(swap, a, b)
    p_win = 1.0 / (1.0 + np.exp(strength[seat1] - strength[seat0]))
    draw = rng.random(matches) < DRAW_SHARE
    points0 = np.where(draw, 0.5, (rng.random(matches) < p_win).astype(float))
    timeout = ~draw & (rng.random(matches) < TIMEOUT_SHARE)
    moves0 = rng.integers(3, 22, matches)
    moves1 = np.maximum(1, moves0 - rng.integers(0, 2, matches))
    tournaments = max(1, matches // 10_000)
    in_tournament = rng.random(matches) < TOURNAMENT_SHARE
    tournament = np.where(in_tournament, np.arange(matches) * tournaments // matches, -1)
    tournament_scenario = rng.integers(0, len(SCENARIOS), tournaments)
    scenario = np.where(
        in_tournament,
        tournament_scenario[np.maximum(tournament, 0)],
        rng.integers(0, len(SCENARIOS), matches),
    )
    owner = np.where(in_tournament, -1, rng.integers(0, OWNERS, matches))
    return Synthetic(
        agents=agents,
        matches=matches,
        refs=[agent_ref(i + 1) for i in range(agents)],
        strength=strength,
        scenario=scenario,
        seat0=seat0,
        seat1=seat1,
        points0=points0,
        timeout=timeout,
        moves0=moves0,
        moves1=moves1,
        tournament=tournament,
        owner=owner,
        tournament_scenario=tournament_scenario,
    )


# --- COPY ---------------------------------------------------------------------------


def _copy(conn: psycopg.Connection[Any], table: str, columns: str, lines: Iterator[str]) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) >= 10_000:
                copy.write("".join(batch))
                batch.clear()
        if batch:
            copy.write("".join(batch))


def _ts(moment: datetime) -> str:
    return moment.isoformat()


def load_registry(conn: psycopg.Connection[Any], data: Synthetic, seed: int = 0) -> None:
    """Users, agents, agent versions, scenarios and tournaments (commits)."""
    rng = np.random.default_rng(seed + 1)
    now = datetime.now(UTC)
    origin = now - timedelta(hours=1, seconds=SPACING_S * data.matches * (1 + FAILED_SHARE))
    users = _uuids(rng, OWNERS + 1)
    agents = _uuids(rng, data.agents)
    versions = _uuids(rng, data.agents)
    tournaments = _uuids(rng, data.tournaments)
    data.ids.update(
        users=users, agents=agents, versions=versions, tournaments=tournaments, origin=origin
    )
    names = [OWNER] + [f"bench_owner{i:02d}" for i in range(OWNERS)]
    created = _ts(origin - timedelta(days=1))
    _copy(
        conn,
        "users",
        "id, username, role, created_at, disabled",
        (f"{user}\t{name}\tuser\t{created}\tf\n" for user, name in zip(users, names, strict=True)),
    )
    _copy(
        conn,
        "agents",
        "id, owner_id, name, description, created_at",
        (
            f"{agent}\t{users[0]}\ta{i + 1:05d}\tsynthetic\t{created}\n"
            for i, agent in enumerate(agents)
        ),
    )
    manifest = json.dumps({"name": "bench", "entrypoint": "agent.py"})
    _copy(
        conn,
        "agent_versions",
        "id, agent_id, version, sha256, manifest, license, language, artifact_ref, "
        "lifecycle_state, deprecated, matches_played, created_at",
        (
            f"{version}\t{agent}\t1.0.0\t{uuid.UUID(version).hex * 2}\t{manifest}\tMIT\t"
            f"python\tbench/{version}\tregistered\tf\t0\t{created}\n"
            for version, agent in zip(versions, agents, strict=True)
        ),
    )
    from devspark.scenarios import resolve

    rows = []
    for scenario_id, _ in SCENARIOS:
        cls = resolve(scenario_id)
        rows.append(
            f"{cls.full_id}\t{cls.scenario_id}\t{cls.version}\t{json.dumps(list(cls.domains))}\t"
            f"{cls.players[0]}\t{cls.players[1]}\t{json.dumps([str(d) for d in cls.difficulties])}\n"
        )
    _copy(
        conn,
        "scenarios",
        "id, name, version, domains, players_min, players_max, difficulties",
        iter(rows),
    )
    span = SPACING_S * data.matches * (1 + FAILED_SHARE) / data.tournaments
    _copy(
        conn,
        "tournaments",
        "id, owner_id, scenario_id, format, params, seed, status, created_at, started_at, "
        "finished_at",
        (
            f"{tid}\t{users[1 + t % OWNERS]}\t{SCENARIOS[int(s)][0]}\tswiss\t{{}}\t{t}\tfinished\t"
            f"{_ts(origin + timedelta(seconds=t * span))}\t"
            f"{_ts(origin + timedelta(seconds=t * span))}\t"
            f"{_ts(origin + timedelta(seconds=(t + 1) * span))}\n"
            for t, (tid, s) in enumerate(zip(tournaments, data.tournament_scenario, strict=True))
        ),
    )
    conn.commit()


MATCH_COLUMNS = (
    "id, scenario_id, seed, options, isolation, status, tournament_id, owner_id, "
    "created_at, started_at, finished_at, steps, wall_ms"
)
RESULT_COLUMNS = (
    "match_id, seat, agent_version_id, agent_ref, role, status, reward, moves, "
    "wall_ms, cpu_s, peak_mb, detail"
)
FAILED_EVERY = round(1 / FAILED_SHARE)


def _match_lines(data: Synthetic, n: int, match_id: str) -> tuple[list[str], list[str]]:
    """``COPY`` lines of match ``n`` (and of a failed one after every 100th) and its results."""
    users, versions, refs = data.ids["users"], data.ids["versions"], data.refs
    step = timedelta(seconds=SPACING_S)
    created = data.ids["origin"] + (n + n // FAILED_EVERY) * step  # a failed one's slot kept
    s0, s1 = int(data.seat0[n]), int(data.seat1[n])
    t, o = int(data.tournament[n]), int(data.owner[n])
    tournament = data.ids["tournaments"][t] if t >= 0 else "\\N"
    owner = users[1 + o] if o >= 0 else "\\N"
    m0, m1 = int(data.moves0[n]), int(data.moves1[n])
    options = (
        f'{{"reset": {{}}, "pairing": {{"round": {n % 7}, "label": "match", '
        f'"agents": ["{refs[s0]}", "{refs[s1]}"]}}}}'
    )
    wall = 40.0 + 3.0 * (m0 + m1)
    head = f"{SCENARIOS[int(data.scenario[n])][0]}\t{n}\t{options}\tsandbox"
    tail = f"{tournament}\t{owner}"
    matches = [
        f"{match_id}\t{head}\tfinished\t{tail}\t{_ts(created)}\t{_ts(created + step / 10)}\t"
        f"{_ts(created + step / 2)}\t{m0 + m1}\t{wall}\n"
    ]
    if n % FAILED_EVERY == FAILED_EVERY - 1:
        matches.append(
            f"{uuid.uuid4()}\t{head}\tfailed\t{tail}\t{_ts(created + step)}\t"
            f"{_ts(created + step * 1.1)}\t{_ts(created + step * 1.5)}\t0\t0.0\n"
        )
    p0 = float(data.points0[n])
    reward0, reward1 = (0.0, 0.0) if p0 == 0.5 else (1.0, -1.0) if p0 else (-1.0, 1.0)
    late = bool(data.timeout[n])
    status0 = "timeout" if late and p0 == 0.0 else "ok"
    status1 = "timeout" if late and p0 == 1.0 else "ok"
    results = [
        f"{match_id}\t{seat}\t{versions[agent]}\t{refs[agent]}\tplayer_{seat}\t"
        f"{status}\t{reward}\t{moves}\t{wall / 2}\t{moves * 0.002:.4f}\t30.0\t\n"
        for seat, (agent, reward, moves, status) in enumerate(
            ((s0, reward0, m0, status0), (s1, reward1, m1, status1))
        )
    ]
    return matches, results


def load_matches(conn: psycopg.Connection[Any], data: Synthetic, seed: int = 0) -> None:
    """The finished (and failed) matches and their two result rows each (commits per chunk).

    Needs :func:`load_registry` first (it draws the ids the rows refer to).
    """
    rng = np.random.default_rng(seed + 2)
    for start in range(0, data.matches, CHUNK):
        stop = min(data.matches, start + CHUNK)
        match_lines: list[str] = []
        result_lines: list[str] = []
        for n, match_id in zip(range(start, stop), _uuids(rng, stop - start), strict=True):
            matches, results = _match_lines(data, n, match_id)
            match_lines += matches
            result_lines += results
        _copy(conn, "matches", MATCH_COLUMNS, iter(match_lines))
        _copy(conn, "match_results", RESULT_COLUMNS, iter(result_lines))
        conn.commit()
    played = np.bincount(np.concatenate([data.seat0, data.seat1]), minlength=data.agents)
    with conn.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_played (id uuid, n int)")
        with cursor.copy("COPY bench_played (id, n) FROM STDIN") as copy:
            for version, n in zip(data.ids["versions"], played, strict=True):
                copy.write_row((version, int(n)))
        cursor.execute(
            "UPDATE agent_versions v SET matches_played = p.n FROM bench_played p WHERE v.id = p.id"
        )
        cursor.execute("DROP TABLE bench_played")
    conn.commit()


# --- board aggregates -----------------------------------------------------------------


def boards() -> list[str]:
    """The board keys the synthetic matches count on: global, per scenario, per domain."""
    keys = ["global"] + [f"scenario:{s}" for s, _ in SCENARIOS]
    keys += sorted({f"domain:{tag}" for _, tags in SCENARIOS for tag in tags})
    return keys


def _entries(data: Synthetic) -> tuple[np.ndarray, np.ndarray]:
    """(board index, match index) for every board each match counts on."""
    keys = boards()
    board_of, match_of = [], []
    everything = np.arange(data.matches)
    board_of.append(np.zeros(data.matches, dtype=np.int64))
    match_of.append(everything)
    for s, (scenario_id, tags) in enumerate(SCENARIOS):
        mine = everything[data.scenario == s]
        for key in [f"scenario:{scenario_id}"] + [f"domain:{tag}" for tag in tags]:
            board_of.append(np.full(len(mine), keys.index(key), dtype=np.int64))
            match_of.append(mine)
    return np.concatenate(board_of), np.concatenate(match_of)


def pair_rows(data: Synthetic) -> list[tuple[str, str, str, int, int, int]]:
    """``board_pairs`` rows: (board, agent_a, agent_b, wins, losses, draws), a < b."""
    keys, refs, n = boards(), data.refs, data.agents
    board, match = _entries(data)
    s0, s1, p0 = data.seat0[match], data.seat1[match], data.points0[match]
    lo, hi = np.minimum(s0, s1), np.maximum(s0, s1)
    points_lo = np.where(s0 == lo, p0, 1.0 - p0)
    key = (board * n + lo) * n + hi
    unique, inverse = np.unique(key, return_inverse=True)
    wins = np.bincount(inverse, weights=points_lo == 1.0, minlength=len(unique))
    losses = np.bincount(inverse, weights=points_lo == 0.0, minlength=len(unique))
    draws = np.bincount(inverse, weights=points_lo == 0.5, minlength=len(unique))
    rows = []
    for k, w, lose, d in zip(
        unique.tolist(), wins.tolist(), losses.tolist(), draws.tolist(), strict=True
    ):
        b, rest = divmod(k, n * n)
        a, c = divmod(rest, n)
        rows.append((keys[b], refs[a], refs[c], int(w), int(lose), int(d)))
    return rows


def record_rows(data: Synthetic) -> list[tuple[str, str, str, int, int, int, int, float, int]]:
    """``board_records`` rows: (board, agent, status, matches, wins, draws, losses, cpu_s, moves)."""
    keys, refs, n, k = boards(), data.refs, data.agents, len(STATUSES)
    board, match = _entries(data)
    p0, late = data.points0[match], data.timeout[match]
    columns = []
    for agent, points, moves, lost in (
        (data.seat0[match], p0, data.moves0[match], p0 == 0.0),
        (data.seat1[match], 1.0 - p0, data.moves1[match], p0 == 1.0),
    ):
        status = (late & lost).astype(np.int64)  # 1: timeout
        columns.append(((board * n + agent) * k + status, points, moves))
    key = np.concatenate([c[0] for c in columns])
    points = np.concatenate([c[1] for c in columns])
    moves = np.concatenate([c[2] for c in columns]).astype(float)
    unique, inverse = np.unique(key, return_inverse=True)
    size = len(unique)
    count = np.bincount(inverse, minlength=size)
    wins = np.bincount(inverse, weights=points == 1.0, minlength=size)
    draws = np.bincount(inverse, weights=points == 0.5, minlength=size)
    losses = np.bincount(inverse, weights=points == 0.0, minlength=size)
    moved = np.bincount(inverse, weights=moves, minlength=size)
    rows = []
    for u, c, w, d, lose, m in zip(
        unique.tolist(),
        count.tolist(),
        wins.tolist(),
        draws.tolist(),
        losses.tolist(),
        moved.tolist(),
        strict=True,
    ):
        rest, status = divmod(u, k)
        b, agent = divmod(rest, n)
        rows.append(
            (
                keys[b],
                refs[agent],
                STATUSES[status],
                int(c),
                int(w),
                int(d),
                int(lose),
                round(m * 0.002, 4),
                int(m),
            )
        )
    return rows


MU0, SIGMA0, MU_PER_LOGIT = 25.0, 25.0 / 3.0, 2.2


def _sigma(played: np.ndarray) -> np.ndarray:
    return np.maximum(0.8, SIGMA0 / np.sqrt(1.0 + played / 4.0))


def skill_rows(data: Synthetic) -> list[tuple[str, str, float, float, int]]:
    """``board_skill`` rows (approximate: see the module docstring)."""
    keys, refs, n = boards(), data.refs, data.agents
    board, match = _entries(data)
    seats = np.concatenate([board * n + data.seat0[match], board * n + data.seat1[match]])
    played = np.bincount(seats, minlength=len(keys) * n)
    rows = []
    for key in np.flatnonzero(played).tolist():
        b, agent = divmod(key, n)
        count = int(played[key])
        sigma = float(_sigma(np.array([count]))[0])
        mu = MU0 + MU_PER_LOGIT * float(data.strength[agent])
        rows.append((keys[b], refs[agent], round(mu, 4), round(sigma, 4), count))
    return rows


def history_rows(data: Synthetic) -> list[tuple[str, int, float, float]]:
    """``board_history`` rows: (agent, seq, mu, sigma), at most 400 per agent (approximate)."""
    agent = np.concatenate([data.seat0, data.seat1])
    seq = np.concatenate([np.arange(1, data.matches + 1)] * 2)
    order = np.lexsort((seq, agent))
    agent, seq = agent[order], seq[order]
    bounds = np.searchsorted(agent, np.arange(data.agents + 1))
    rows = []
    for a in range(data.agents):
        mine = seq[bounds[a] : bounds[a + 1]]
        total = len(mine)
        if total == 0:
            continue
        if total <= HISTORY_POINTS:
            nth = np.arange(total)
        else:
            nth = np.append(
                (np.arange(HISTORY_POINTS - 1) * (total / HISTORY_POINTS)).astype(int), total - 1
            )
        final = MU_PER_LOGIT * float(data.strength[a])
        played = nth + 1
        mus = MU0 + final * (1.0 - np.exp(-played / 20.0))
        sigmas = _sigma(played.astype(float))
        ref = data.refs[a]
        rows.extend(
            (ref, int(s), round(float(m), 4), round(float(g), 4))
            for s, m, g in zip(mine[nth].tolist(), mus.tolist(), sigmas.tolist(), strict=True)
        )
    return rows


def load_boards(conn: psycopg.Connection[Any], data: Synthetic) -> dict[str, float]:
    """Write the board aggregates (commits); the seconds spent computing and copying."""
    started = time.perf_counter()
    tables = {
        "board_pairs": ("board, agent_a, agent_b, wins, losses, draws", pair_rows(data)),
        "board_records": (
            "board, agent, status, matches, wins, draws, losses, cpu_s, moves",
            record_rows(data),
        ),
        "board_skill": ("board, agent, mu, sigma, matches", skill_rows(data)),
        "board_history": ("agent, seq, mu, sigma", history_rows(data)),
    }
    computed = time.perf_counter()
    with conn.cursor() as cursor:
        for table, (columns, rows) in tables.items():
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        cursor.execute(
            "INSERT INTO board_state (id, rated) VALUES (1, %s) "
            "ON CONFLICT (id) DO UPDATE SET rated = EXCLUDED.rated",
            (data.matches,),
        )
    conn.commit()
    return {
        "compute_s": computed - started,
        "copy_s": time.perf_counter() - computed,
        **{f"{table}_rows": float(len(rows)) for table, (_, rows) in tables.items()},
    }


def has_board_tables(conn: psycopg.Connection[Any]) -> bool:
    """Whether the migrated schema has the board aggregate tables (migration 0009)."""
    row = conn.execute("SELECT to_regclass('board_pairs') IS NOT NULL").fetchone()
    return bool(row and row[0])


def sigmoid(x: float) -> float:
    """The logistic function."""
    return 1.0 / (1.0 + math.exp(-x))
