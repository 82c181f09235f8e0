"""Pagination shared by every list endpoint: ``?offset=&limit=`` in, :class:`Page` out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

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


class Page(BaseModel, Generic[T]):
    """One window of a list, with the size of the whole list.

    Attributes:
        items: The items in the window, in the list's order.
        total: Number of items in the whole list.
        offset: Offset of the first item returned.
        limit: Limit that was applied.

    """

    items: list[T]
    total: int = Field(ge=0, description="Number of items in the whole list.")
    offset: int = Field(ge=0, description="Offset of the first returned item.")
    limit: int = Field(ge=1, le=MAX_LIMIT, description="Limit that was applied.")


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
