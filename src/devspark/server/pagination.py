"""Pagination shared by every list endpoint: ``?offset=&limit=`` in, :class:`Page` out.

The large lists (matches, tournaments, agents) also take ``?cursor=``: a keyset page that
starts after the row a previous page's ``next_cursor`` names, at the same cost at any
depth (:mod:`devspark.services.keyset`). Such a page has ``total`` null (counting a
million rows costs more than the page) and refuses an ``offset`` other than 0. Lists
without cursors always answer ``next_cursor`` null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from devspark.services.keyset import MAX_CURSOR_LENGTH, check_cursor_offset

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


MAX_OFFSET = 2**31 - 1
"""The largest ``offset`` accepted (databases store 64-bit integers at most)."""


@dataclass(frozen=True, slots=True)
class PageParams:
    """The requested window of a list.

    Attributes:
        offset: Number of items to skip (``>= 0``).
        limit: Largest number of items to return (``1..200``).

    """

    offset: int = 0
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    """Where a keyset page starts (``""``: the head); ``None``: an offset page."""


class Page(BaseModel, Generic[T]):
    """One window of a list, with the size of the whole list and where the next page starts.

    Attributes:
        items: The items in the window, in the list's order.
        total: Number of items in the whole list; ``None`` on a cursor page.
        offset: Offset of the first item returned.
        limit: Limit that was applied.
        next_cursor: The ``cursor`` of the next page; ``None`` at the end of the list and
            for lists that take no cursor.

    """

    items: list[T]
    total: int | None = Field(
        ge=0,
        description=(
            "Number of items in the whole (filtered) list. Null on a cursor page (the "
            "request gave `cursor`): counting a large list costs more than the page."
        ),
    )
    offset: int = Field(ge=0, description="Offset of the first returned item.")
    limit: int = Field(ge=1, le=MAX_LIMIT, description="Limit that was applied.")
    next_cursor: str | None = Field(
        default=None,
        description=(
            "Pass it as `cursor` (same filters, `offset` 0) to read the next page. Null at "
            "the end of the list, and always null for lists that take no `cursor` "
            "(only matches, tournaments and agents do)."
        ),
    )


async def page_params(
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Number of items to skip.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Largest number of items to return.")
    ] = DEFAULT_LIMIT,
) -> PageParams:
    """FastAPI dependency reading ``offset`` and ``limit`` from the query string.

    Args:
        offset: Number of items to skip (``>= 0``, default 0).
        limit: Largest number of items to return (``1..200``, default 50).

    Returns:
        The validated window.

    """
    return PageParams(offset=offset, limit=limit)


async def keyset_params(
    offset: Annotated[
        int,
        Query(ge=0, le=MAX_OFFSET, description="Number of items to skip (0 with `cursor`)."),
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Largest number of items to return.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description=(
                "Start after the row this `next_cursor` of a previous page names (send the "
                "same filters). A cursor page costs the same at any depth, has `total` "
                "null and needs `offset` 0. Empty: the first page, without counting."
            ),
        ),
    ] = None,
) -> PageParams:
    """FastAPI dependency reading ``offset``, ``limit`` and ``cursor`` from the query string.

    Args:
        offset: Number of items to skip (``>= 0``, default 0; must be 0 with a cursor).
        limit: Largest number of items to return (``1..200``, default 50).
        cursor: A previous page's ``next_cursor`` (``""``: the head of the list).

    Returns:
        The validated window.

    Raises:
        InvalidArgumentError: ``cursor`` comes with an ``offset`` other than 0.

    """
    check_cursor_offset(cursor, offset)
    return PageParams(offset=offset, limit=limit, cursor=cursor)


def paginate(items: Sequence[T], params: PageParams) -> Page[T]:
    """Cut ``items`` (the whole list, already ordered) to the window in ``params``.

    Args:
        items: Every item of the list.
        params: The requested window.

    Returns:
        The page, with ``total`` counting all of ``items``.

    """
    window = list(items[params.offset : params.offset + params.limit])
    return Page[T](items=window, total=len(items), offset=params.offset, limit=params.limit)
