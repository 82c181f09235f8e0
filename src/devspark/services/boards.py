"""Platform boards kept as aggregates: what a stored match adds, and how boards are read.

Every finished match between distinct agents counts on three kinds of board: the global
board, its scenario's board (``"scenario:<versioned id>"``) and one board per domain tag
of the scenario (``"domain:<tag>"``). What it adds is counted in the transaction that
stores it (:func:`count_stored`):

* one row per agent pair and board in ``board_pairs`` (wins, losses, draws: a
  multi-player match gives every pair of seats a result by rank), incremented by one
  upsert per table, so a Bradley-Terry fit costs the pairs that met, not the matches;
* one row per agent, final status and board in ``board_records`` (matches, pairwise
  wins/draws/losses, CPU and moves);
* one row in ``board_inbox``: the board keeper (:mod:`devspark.services.board_keeper`)
  rates the match with OpenSkill, which depends on the order of matches, and refits
  the boards in the background.

Reads never wait for a fit: :func:`read_boards` returns the last boards the keeper
built, as stored JSON.
"""

from __future__ import annotations

import functools
import gzip
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from devspark.scenarios import resolve
from devspark.services.board_writes import insert_for, write_many
from devspark.store.models import (
    BoardInboxRow,
    BoardPairRow,
    BoardRecordRow,
    MatchResultRow,
    PlatformBoardRow,
)

GLOBAL: Final = "global"
"""The board every rated match counts on."""

SCENARIO_PREFIX: Final = "scenario:"
DOMAIN_PREFIX: Final = "domain:"


@dataclass(frozen=True, slots=True)
class Seat:
    """One seat of a finished match, as the boards see it.

    Attributes:
        agent: Agent reference.
        reward: Its return (higher ranks better; equal rewards tie).
        status: How its part ended (``"ok"`` or a fault).
        cpu_s: CPU seconds it used.
        moves: Moves it made.

    """

    agent: str
    reward: float
    status: str
    cpu_s: float
    moves: int

    @classmethod
    def of(cls, row: MatchResultRow) -> Seat:
        """The seat a stored result row describes."""
        return cls(row.agent_ref, row.reward, row.status, row.cpu_s, row.moves)


@dataclass(frozen=True, slots=True)
class Tally:
    """What one rated match adds to the boards.

    Attributes:
        boards: The boards it counts on (global, its scenario, its domains).
        agents: Agents in seat order.
        scores: Their rewards, in the same order.
        pairs: ``(a, b, wins, losses, draws)`` per pair of seats, ``a < b``, each count
            0 or 1 (``wins`` is ``a`` over ``b``).
        records: ``(agent, status, wins, draws, losses, cpu_s, moves)`` per seat.

    """

    boards: tuple[str, ...]
    agents: tuple[str, ...]
    scores: tuple[float, ...]
    pairs: tuple[tuple[str, str, int, int, int], ...]
    records: tuple[tuple[str, str, int, int, int, float, int], ...]


@functools.lru_cache(maxsize=1024)
def boards_of(scenario_id: str) -> tuple[str, ...]:
    """The boards a match of ``scenario_id`` counts on.

    A scenario whose plugin is gone keeps its own board and the global one.
    """
    try:
        tags = tuple(dict.fromkeys(resolve(scenario_id).domains))
    except Exception:  # a scenario plugin that is gone: no domain tags
        tags = ()
    return (GLOBAL, SCENARIO_PREFIX + scenario_id, *(DOMAIN_PREFIX + tag for tag in tags))


def tally(scenario_id: str, seats: Sequence[Seat]) -> Tally | None:
    """What a finished match adds to the boards, or ``None`` when it is not rated.

    A match with fewer than two seats, or one that seats an agent more than once
    (self-play, copies of an agent in a team game), says nothing about how agents
    compare: it is stored like any other and left out of the boards.
    """
    agents = tuple(seat.agent for seat in seats)
    if len(agents) < 2 or len(set(agents)) != len(agents):
        return None
    wdl = {agent: [0, 0, 0] for agent in agents}
    pairs = []
    for s, first in enumerate(seats):
        for second in seats[s + 1 :]:
            a, b = (first, second) if first.agent < second.agent else (second, first)
            win, loss, draw = (
                (0, 0, 1)
                if a.reward == b.reward
                else (1, 0, 0)
                if a.reward > b.reward
                else (0, 1, 0)
            )
            pairs.append((a.agent, b.agent, win, loss, draw))
            wdl[a.agent][0] += win
            wdl[a.agent][1] += draw
            wdl[a.agent][2] += loss
            wdl[b.agent][0] += loss
            wdl[b.agent][1] += draw
            wdl[b.agent][2] += win
    records = tuple(
        (seat.agent, seat.status, *_three(wdl[seat.agent]), seat.cpu_s, seat.moves)
        for seat in seats
    )
    return Tally(
        boards=boards_of(scenario_id),
        agents=agents,
        scores=tuple(seat.reward for seat in seats),
        pairs=tuple(pairs),
        records=records,
    )


def _three(values: list[int]) -> tuple[int, int, int]:
    return (values[0], values[1], values[2])


_ADDED: Final = ("matches", "wins", "draws", "losses", "cpu_s", "moves")


@functools.cache
def _add_pairs(dialect: str) -> Any:
    """The upsert that adds pair counts (SQLite's path of :func:`write_many`)."""
    pairs = insert_for(dialect, BoardPairRow)
    return pairs.on_conflict_do_update(
        index_elements=["board", "agent_a", "agent_b"],
        set_={
            name: getattr(BoardPairRow, name) + getattr(pairs.excluded, name)
            for name in ("wins", "losses", "draws")
        },
    )


@functools.cache
def _add_records(dialect: str) -> Any:
    """The upsert that adds record counts (SQLite's path of :func:`write_many`)."""
    records = insert_for(dialect, BoardRecordRow)
    return records.on_conflict_do_update(
        index_elements=["board", "agent", "status"],
        set_={
            name: getattr(BoardRecordRow, name) + getattr(records.excluded, name) for name in _ADDED
        },
    )


def add_counts(session: Session, tallies: Iterable[Tally]) -> None:
    """Add the pair and record counts of ``tallies`` to the stored aggregates.

    One statement per table (:func:`~devspark.services.board_writes.write_many`). Keys
    are summed first and sent in sorted order, so concurrent stores lock rows in the same
    order and cannot deadlock each other.
    """
    pairs: dict[tuple[str, str, str], list[int]] = {}
    records: dict[tuple[str, str, str], list[float]] = {}
    for counted in tallies:
        for board in counted.boards:
            for a, b, win, loss, draw in counted.pairs:
                cell = pairs.setdefault((board, a, b), [0, 0, 0])
                cell[0] += win
                cell[1] += loss
                cell[2] += draw
            for agent, status, wins, draws, losses, cpu_s, moves in counted.records:
                line = records.setdefault((board, agent, status), [0, 0, 0, 0, 0.0, 0])
                line[0] += 1
                line[1] += wins
                line[2] += draws
                line[3] += losses
                line[4] += cpu_s
                line[5] += moves
    if not pairs:
        return
    pair_rows = [
        {"board": k[0], "agent_a": k[1], "agent_b": k[2], "wins": w, "losses": lo, "draws": d}
        for k, (w, lo, d) in sorted(pairs.items())
    ]
    record_rows = [
        {
            "board": k[0],
            "agent": k[1],
            "status": k[2],
            **{
                name: (float(v) if name == "cpu_s" else int(v))
                for name, v in zip(_ADDED, values, strict=True)
            },
        }
        for k, values in sorted(records.items())
    ]
    write_many(session, _add_pairs, _ADD_PAIRS_UNNEST, pair_rows)
    write_many(session, _add_records, _ADD_RECORDS_UNNEST, record_rows)


# PostgreSQL adds counts with one array per column: a parameter list would go out as one
# statement per row. Rows are inserted in the order given (sorted keys: no deadlocks).
_ADD_PAIRS_UNNEST: Final = text(
    "INSERT INTO board_pairs AS p (board, agent_a, agent_b, wins, losses, draws) "
    "SELECT board, agent_a, agent_b, wins, losses, draws FROM unnest("
    "CAST(:board AS varchar[]), CAST(:agent_a AS varchar[]), CAST(:agent_b AS varchar[]), "
    "CAST(:wins AS integer[]), CAST(:losses AS integer[]), CAST(:draws AS integer[])) "
    "WITH ORDINALITY AS t(board, agent_a, agent_b, wins, losses, draws, n) ORDER BY n "
    "ON CONFLICT (board, agent_a, agent_b) DO UPDATE SET wins = p.wins + excluded.wins, "
    "losses = p.losses + excluded.losses, draws = p.draws + excluded.draws"
)
_ADD_RECORDS_UNNEST: Final = text(
    "INSERT INTO board_records AS r "
    "(board, agent, status, matches, wins, draws, losses, cpu_s, moves) "
    "SELECT board, agent, status, matches, wins, draws, losses, cpu_s, moves FROM unnest("
    "CAST(:board AS varchar[]), CAST(:agent AS varchar[]), CAST(:status AS varchar[]), "
    "CAST(:matches AS integer[]), CAST(:wins AS integer[]), CAST(:draws AS integer[]), "
    "CAST(:losses AS integer[]), CAST(:cpu_s AS float8[]), CAST(:moves AS integer[])) "
    "WITH ORDINALITY AS t(board, agent, status, matches, wins, draws, losses, cpu_s, moves, n) "
    "ORDER BY n ON CONFLICT (board, agent, status) DO UPDATE SET "
    "matches = r.matches + excluded.matches, wins = r.wins + excluded.wins, "
    "draws = r.draws + excluded.draws, losses = r.losses + excluded.losses, "
    "cpu_s = r.cpu_s + excluded.cpu_s, moves = r.moves + excluded.moves"
)


def count_stored(
    session: Session,
    match_id: uuid.UUID,
    scenario_id: str,
    finished_at: datetime,
    seats: Sequence[Seat],
) -> bool:
    """Count a match being stored on its boards, in the caller's transaction.

    Returns:
        Whether it is rated (``False`` for self-play and one-seat matches).

    """
    counted = tally(scenario_id, seats)
    if counted is None:
        return False
    add_counts(session, [counted])
    session.execute(
        insert(cast(Table, BoardInboxRow.__table__)),
        [{"match_id": match_id, "finished_at": finished_at, "counted": True}],
    )
    return True


EMPTY_BOARDS: Final = {
    "by_scenario": {},
    "by_domain": {},
    "efficiency": [],
    "global": [],
    "history": {},
    "matches": 0,
    "built_at": None,
}
"""The boards before any match is rated (plus ``method``)."""


def empty_boards(method: str) -> str:
    """The JSON of boards with nothing rated yet."""
    return json.dumps({"method": method, **EMPTY_BOARDS})


def read_boards(session: Session, method: str) -> str:
    """The latest boards the keeper built for ``method``, as JSON (never waits for a fit).

    Args:
        session: Database session.
        method: ``"bradley_terry"`` or ``"openskill"``.

    Returns:
        The document the API serves; empty boards before the first build.

    """
    gz = session.scalar(select(PlatformBoardRow.body_gz).where(PlatformBoardRow.method == method))
    return empty_boards(method) if gz is None else gzip.decompress(gz).decode()


def head_to_head(session: Session, agent: str) -> list[dict[str, Any]]:
    """``agent``'s wins, draws and losses against each opponent, most played first.

    Read from the global board's pair counts (multi-player matches count once per
    opponent, by rank), so it costs the opponents met, not the matches played.
    """
    table: dict[str, list[int]] = {}
    as_first = select(BoardPairRow).where(
        BoardPairRow.board == GLOBAL, BoardPairRow.agent_a == agent
    )
    as_second = select(BoardPairRow).where(
        BoardPairRow.board == GLOBAL, BoardPairRow.agent_b == agent
    )
    for pair in session.scalars(as_first):
        table[pair.agent_b] = [pair.wins, pair.draws, pair.losses]
    for pair in session.scalars(as_second):
        table[pair.agent_a] = [pair.losses, pair.draws, pair.wins]
    ordered = sorted(table.items(), key=lambda item: (-sum(item[1]), item[0]))
    return [
        {"opponent": opponent, "wins": w, "draws": d, "losses": lo}
        for opponent, (w, d, lo) in ordered
    ]


__all__ = [
    "DOMAIN_PREFIX",
    "EMPTY_BOARDS",
    "GLOBAL",
    "SCENARIO_PREFIX",
    "Seat",
    "Tally",
    "add_counts",
    "boards_of",
    "count_stored",
    "empty_boards",
    "head_to_head",
    "read_boards",
    "tally",
]
