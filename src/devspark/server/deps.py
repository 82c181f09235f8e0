"""Request-scoped dependencies shared by the app factory and the routers.

Kept apart from :mod:`devspark.server.app` so routers (imported by the app) can depend on
them without an import cycle. ``devspark.server.app.get_session`` re-exports the same
object, so FastAPI shares one session per request whichever name a route uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import Pool, QueuePool
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

RESERVED_CONNECTIONS = 3
"""Pool connections kept for users other than requests: the sessions of an embedded
worker (one per slot and one for its heartbeats)."""


UNBOUNDED_SLOTS = 1024
"""The bound for pools that never make a caller wait."""


def session_slots(pool: Pool) -> int:
    """How many requests may hold a session at once on ``pool``.

    A bounded pool (``QueuePool``: ``pool_size`` plus ``max_overflow``) backs that many
    connections; :data:`RESERVED_CONNECTIONS` of them are left to the embedded worker. Other pools (SQLite in memory, ``NullPool``, an unbounded overflow) do not
    make callers wait, so they get :data:`UNBOUNDED_SLOTS`.
    """
    if isinstance(pool, QueuePool):
        overflow = pool._max_overflow  # no public accessor; -1 means unbounded
        if overflow >= 0:
            return max(1, pool.size() + overflow - RESERVED_CONNECTIONS)
    return UNBOUNDED_SLOTS


def _slots(app: FastAPI) -> asyncio.Semaphore:
    slots: asyncio.Semaphore | None = getattr(app.state, "session_slots", None)
    if slots is None:  # made on the event loop, with no await in between: no race
        factory: sessionmaker[Session] = app.state.session_factory
        bind = factory.kw["bind"]
        slots = app.state.session_slots = asyncio.Semaphore(session_slots(bind.pool))
    return slots


async def get_session(request: Request) -> AsyncIterator[Session]:
    """FastAPI dependency: a database session for one request, closed afterwards.

    Creating a session touches no database (it connects on first use), so this runs on
    the event loop; only a session that did connect is closed in the thread pool (closing
    returns its connection to the pool, which may talk to the server).

    No more requests hold a session at once than the connection pool can back
    (:func:`session_slots`); the others wait here, on the event loop. Without that
    bound, a burst of requests larger than the pool fills the thread pool with handlers
    waiting for a connection while the requests that hold the connections wait for a
    thread (to validate their response or to close their session): the server stalls
    until the pool's timeout, then answers 500.

    Args:
        request: The current request (its app holds the session factory).

    Yields:
        A session; the service functions the route calls commit what they change.

    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    async with _slots(request.app):
        session = factory()
        try:
            yield session
        finally:
            if session.in_transaction():
                await run_in_threadpool(session.close)
            else:
                session.close()


class SlotLoan:
    """What a route waiting off the database may do: borrow a session slot for one read."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(*args)`` in the thread pool while holding a session slot."""
        async with self._slots:
            return await run_in_threadpool(work, *args)


@asynccontextmanager
async def slot_given_back(request: Request, session: Session) -> AsyncIterator[SlotLoan]:
    """Give the request's session slot back for a long wait (``POST /tasks?wait``).

    The session's connection goes back to the pool and the slot to the requests
    waiting for one; the route borrows a slot again for every read it makes meanwhile
    (:meth:`SlotLoan.run`). The slot is taken back on the way out, so the request ends
    holding it, as :func:`get_session` expects. Without this, sixty-second waits as
    many as the pool has connections would stall every other request.

    Args:
        request: The current request (it holds a slot through :func:`get_session`).
        session: Its session, closed now (it reconnects when used again).

    Yields:
        The loan to read with.

    """
    slots = _slots(request.app)
    await run_in_threadpool(session.close)
    slots.release()
    try:
        yield SlotLoan(slots)
    finally:
        # Shielded: a cancelled request must still end holding the slot it gives back.
        await asyncio.shield(slots.acquire())


SessionDep = Annotated[Session, Depends(get_session)]
"""A route parameter holding the request's session (routes import no sqlalchemy)."""


__all__ = [
    "RESERVED_CONNECTIONS",
    "UNBOUNDED_SLOTS",
    "SessionDep",
    "SlotLoan",
    "get_session",
    "session_slots",
    "slot_given_back",
]
