"""Keyset pages ("cursors") of the large lists: matches, tournaments, agents.

An offset page reads and throws away every row before it, so page 20,000 of a million
matches costs 20,000 pages. A keyset page starts after the last row of the page before
it instead: the list is ordered by a unique key that ends with ``id`` (matches:
``created_at, id``, newest first), the next page is ``WHERE (created_at, id) < (last
row's)``, and an index on the key (migration ``0008``) makes every page one short index
range scan, at any depth.

The position travels as a **cursor**: an opaque, URL-safe string (base64url of a small
JSON document ``{"k": kind, "v": [key values]}``). ``kind`` names the list and its order
(:class:`Keyset`), so a cursor from another list is refused instead of silently reading
the wrong rows. A cursor holds no filters: the same cursor continues a filtered list as
long as the client sends the same filters. Rows written after a walk began sort before
its cursor (they are newer), so they never appear in the walk and no row is seen twice.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import Select

from devspark.core.errors import InvalidArgumentError

T = TypeVar("T")

MAX_CURSOR_LENGTH = 512
"""The longest cursor accepted (a real one is under 150 characters)."""

START = ""
"""The empty cursor: the head of the list, read as a cursor page (``total`` is not counted)."""


class Window(NamedTuple, Generic[T]):
    """One page of a list: its rows, the list's size and where the next page starts.

    Attributes:
        items: The rows of the page, in the list's order.
        total: How many rows the whole (filtered) list holds; ``None`` on a cursor page,
            where counting a large list would cost more than the page.
        next_cursor: The cursor of the page after this one; ``None`` at the end of the list.

    """

    items: list[T]
    total: int | None
    next_cursor: str | None


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(value)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(value)
    return parsed.astimezone(UTC)


def _parse_uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise TypeError(value)
    return uuid.UUID(hex=value)


def _parse_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


_PARSERS: dict[type, Callable[[Any], Any]] = {
    datetime: _parse_datetime,
    uuid.UUID: _parse_uuid,
    str: _parse_str,
}


def _dump(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


@dataclass(frozen=True, slots=True)
class Keyset:
    """One list order that keyset pages can continue.

    Attributes:
        kind: The tag a cursor of this order carries (``"matches"``).
        columns: The sort key, most significant first; unique as a whole (ends with ``id``).
        types: The Python type of each column's value (``datetime``, ``uuid.UUID``, ``str``).
        descending: Newest (greatest) first; otherwise ascending.

    """

    kind: str
    columns: tuple[InstrumentedAttribute[Any], ...]
    types: tuple[type, ...]
    descending: bool = True

    def order(self) -> list[Any]:
        """The ``ORDER BY`` clauses of this order."""
        return [column.desc() if self.descending else column.asc() for column in self.columns]

    def encode(self, row: Any) -> str:
        """The cursor that continues the list after ``row``."""
        values = [_dump(getattr(row, column.key)) for column in self.columns]
        document = json.dumps({"k": self.kind, "v": values}, separators=(",", ":"))
        return base64.urlsafe_b64encode(document.encode()).rstrip(b"=").decode("ascii")

    def decode(self, cursor: str) -> list[Any]:
        """The key values ``cursor`` holds.

        Raises:
            InvalidArgumentError: ``cursor`` is malformed, or it belongs to another list.

        """
        shown = cursor if len(cursor) <= 64 else cursor[:61] + "..."
        expected = (
            f"expected the next_cursor of a previous page of this list ({self.kind}), "
            "unchanged, or an empty cursor for the first page"
        )
        document = _document(cursor)
        if document is None:
            raise InvalidArgumentError(f"cursor={shown!r} is not a valid cursor: {expected}")
        kind, values = document
        if kind != self.kind:
            raise InvalidArgumentError(
                f"cursor={shown!r} is a cursor of the {kind!r} list, not of {self.kind!r}: "
                f"{expected}"
            )
        try:
            if len(values) != len(self.types):
                raise ValueError(values)
            return [_PARSERS[kind_](value) for kind_, value in zip(self.types, values, strict=True)]
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"cursor={shown!r} holds no valid position: {expected}"
            ) from exc

    def after(self, query: Select[T], cursor: str) -> Select[T]:
        """``query`` restricted to the rows after the position ``cursor`` holds."""
        values = self.decode(cursor)
        key = tuple_(*self.columns)
        position = tuple_(
            *(
                bindparam(None, value, type_=column.type)
                for column, value in zip(self.columns, values, strict=True)
            )
        )
        return query.where(key < position if self.descending else key > position)


def _document(cursor: str) -> tuple[str, list[Any]] | None:
    """``(kind, values)`` of a cursor, or ``None`` when it is not one."""
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
        return None
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        document = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(document, dict) or set(document) != {"k", "v"}:
        return None
    kind, values = document["k"], document["v"]
    if not isinstance(kind, str) or not isinstance(values, list):
        return None
    return kind, values


def check_cursor_offset(cursor: str | None, offset: int) -> None:
    """Refuse a page that gives both a cursor and an offset.

    Raises:
        InvalidArgumentError: ``cursor`` is given and ``offset`` is not 0.

    """
    if cursor is not None and offset != 0:
        raise InvalidArgumentError(
            f"offset={offset} cannot be combined with cursor: a cursor page starts at its "
            "cursor, so offset must be 0 (or leave out the cursor)"
        )


def keyset_window(
    session: Session,
    query: Select[T],
    keyset: Keyset,
    *,
    cursor: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Window[T]:
    """One page of ``query`` (unordered) in ``keyset``'s order, by cursor or by offset.

    Args:
        session: Database session.
        query: The filtered listing, without ``ORDER BY``.
        keyset: Its order.
        cursor: Start after this position (a ``next_cursor``; :data:`START` for the head);
            ``None``: an offset page.
        offset: Rows skipped (offset pages only; must be 0 with a cursor).
        limit: The most rows returned.

    Returns:
        The page; ``total`` counts the filtered list on an offset page only.

    Raises:
        InvalidArgumentError: ``cursor`` is malformed or from another list, or it is
            combined with an ``offset``.

    """
    check_cursor_offset(cursor, offset)
    total: int | None = None
    if cursor is None:
        counted = select(func.count()).select_from(query.order_by(None).subquery())
        total = session.scalar(counted) or 0
    elif cursor != START:
        query = keyset.after(query, cursor)
    rows = list(session.scalars(query.order_by(*keyset.order()).offset(offset).limit(limit + 1)))
    more = len(rows) > limit
    items = rows[:limit]
    return Window(items, total, keyset.encode(items[-1]) if more else None)


__all__ = [
    "MAX_CURSOR_LENGTH",
    "START",
    "Keyset",
    "Window",
    "check_cursor_offset",
    "keyset_window",
]
