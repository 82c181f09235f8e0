"""Request-scoped dependencies shared by the app factory and the routers.

Kept apart from :mod:`devspark.server.app` so routers (imported by the app) can depend on
them without an import cycle. ``devspark.server.app.get_session`` re-exports the same
object, so FastAPI shares one session per request whichever name a route uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool


async def get_session(request: Request) -> AsyncIterator[Session]:
    """FastAPI dependency: a database session for one request, closed afterwards.

    Creating a session touches no database (it connects on first use), so this runs on
    the event loop; only a session that did connect is closed in the thread pool (closing
    returns its connection to the pool, which may talk to the server).

    Args:
        request: The current request (its app holds the session factory).

    Yields:
        A session; the route commits what it changes.

    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


__all__ = ["get_session"]
