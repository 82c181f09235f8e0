"""Request-scoped dependencies shared by the app factory and the routers.

Kept apart from :mod:`devspark.server.app` so routers (imported by the app) can depend on
them without an import cycle. ``devspark.server.app.get_session`` re-exports the same
object, so FastAPI shares one session per request whichever name a route uses.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker


def get_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: a database session for one request, closed afterwards.

    Args:
        request: The current request (its app holds the session factory).

    Yields:
        A session; the route commits what it changes.

    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        yield session


__all__ = ["get_session"]
