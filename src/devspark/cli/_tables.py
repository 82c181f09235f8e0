"""Rich tables for the CLI that lose nothing in an 80-column terminal.

Rich shrinks columns to fit the terminal and cuts their text with an ellipsis; an agent
reference or scenario id cut that way (``builtin:co…``) can no longer be copied into the
next command, and a cut number reads as another number. These tables are drawn
compactly, keep name columns whole and fold any other cell onto a second line instead.
:func:`print_table` stacks the words of the headers first when a table is wider than
the terminal (``wall`` over ``ms``), so a header is not cut inside a word
(``statu`` over ``s``) and the table does not run past the terminal's edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

_UNBOUNDED = 10_000
"""A width no table reaches: measuring at it gives a table's natural width."""


def compact_table(title: str) -> Table:
    """A table with a simple head rule and one space between columns."""
    return Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=0,
        collapse_padding=True,
    )


def name_column(table: Table, header: str, names: Iterable[str]) -> None:
    """Add a column at least as wide as its longest name, never cut or wrapped.

    Args:
        table: The table to add the column to.
        header: The column's header.
        names: Every value the column will hold.

    """
    widest = max((len(name) for name in names), default=0)
    table.add_column(header, no_wrap=True, min_width=max(widest, len(header)))


def value_column(table: Table, header: str, *, justify: Literal["left", "right"] = "right") -> None:
    """Add a column whose cells fold onto more lines rather than being cut."""
    table.add_column(header, justify=justify, overflow="fold")


def print_table(console: Console, table: Table) -> None:
    """Print ``table``, stacking its headers' words first when it is wider than ``console``.

    Args:
        console: Where to print; its width is the terminal's (``$COLUMNS``).
        table: A table built with :func:`compact_table` and the column helpers.

    """
    natural = Measurement.get(console, console.options.update_width(_UNBOUNDED), table)
    if natural.maximum > console.width:
        for column in table.columns:
            if isinstance(column.header, str):
                column.header = column.header.replace(" ", "\n")
    console.print(table)
