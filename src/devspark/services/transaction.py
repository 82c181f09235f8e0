"""One transaction per write use case: run the change, commit once, or keep nothing.

A write use case receives a :class:`~sqlalchemy.orm.Session` and an
:class:`~devspark.services.audit.AuditContext`, makes its change, records its audit
entry and commits once, through :func:`in_transaction`. Routes and command-line commands
never commit; reads never write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


def in_transaction(session: Session, change: Callable[[], T]) -> T:
    """Run ``change`` and commit once; roll back and re-raise on any failure.

    Args:
        session: The use case's session.
        change: Makes the change and records its audit entry (flushes, never commits).

    Returns:
        What ``change`` returned, once committed.

    Raises:
        BaseException: Whatever ``change`` or the commit raised, after the rollback.

    """
    try:
        result = change()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


__all__ = ["in_transaction"]
