"""The CLI's tables in an 80-column terminal: names whole, headers cut only between words."""

from __future__ import annotations

import io

from rich.console import Console

from devspark.cli._tables import compact_table, name_column, print_table, value_column

AGENT = "builtin:connect-four-heuristic-js"


def _standings() -> str:
    """A leaderboard-shaped table printed at 80 columns; its text."""
    table = compact_table("global")
    value_column(table, "rank")
    name_column(table, "agent", [AGENT, "builtin:random"])
    for header in ("rating [95%]", "W", "D", "L", "CPU ms/move"):
        value_column(table, header)
    value_column(table, "statuses", justify="left")
    table.add_row("1", AGENT, "1748 [1331, 2143]", "2", "0", "1", "0.297", "ok 3")
    table.add_row("2", "builtin:random", "712 [602, 1356]", "0", "0", "3", "0.063", "ok 3")
    out = io.StringIO()
    print_table(Console(file=out, width=80), table)
    return out.getvalue()


def test_a_standings_table_fits_80_columns_with_names_and_intervals_whole() -> None:
    text = _standings()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert AGENT in text and "…" not in text
    assert "1748 [1331, 2143]" in text  # one line, not folded at its comma


def test_a_match_table_too_wide_for_80_columns_wraps_headers_between_words() -> None:
    table = compact_table("connect_four-v1  seed 0  9 steps")
    name_column(table, "seat", ["player_0"])
    name_column(table, "agent", ["builtin:connect-four-alphabeta"])
    value_column(table, "status", justify="left")
    for header in ("reward", "moves", "wall ms", "CPU s", "peak MB"):
        value_column(table, header)
    table.add_row(
        "player_0", "builtin:connect-four-alphabeta", "ok", "1", "5", "17.0", "0.017", "12.5"
    )
    out = io.StringIO()
    print_table(Console(file=out, width=80), table)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[1].split() == ["wall", "CPU", "peak"]  # stacked: the table is 81 wide in one line
    assert lines[2].split() == ["seat", "agent", "status", "reward", "moves", "ms", "s", "MB"]
