"""Readiness: can this process reach its database."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)


def database_problem(engine: Engine) -> str | None:
    """Why the database does not answer ``SELECT 1``, or ``None`` when it does.

    Args:
        engine: The database engine.

    Returns:
        ``None`` when the database answered; otherwise the driver's error, as text.

    """
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return str(exc)
    return None


__all__ = ["database_problem"]
