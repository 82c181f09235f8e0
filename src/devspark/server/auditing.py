"""Audit a state-changing API call: who (actor and how authenticated), what, on what.

Every route that changes state calls :func:`audit_call` once its change is in the
session; the entry carries the request's correlation id and is committed together with
the change, so a change without its audit entry is never kept.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from devspark.server.auth import Actor, actor_kind
from devspark.server.errors import correlation_id
from devspark.services import audit

logger = logging.getLogger(__name__)


def audit_context(request: Request, actor: Actor) -> audit.AuditContext:
    """The audit context of a request: its actor, how it authenticated, its correlation id."""
    return audit.AuditContext(
        actor=actor.user, actor_kind=actor_kind(actor), correlation_id=correlation_id(request)
    )


def audit_call(
    request: Request,
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str,
    **detail: Any,
) -> None:
    """Record ``action`` on a target by ``actor`` and commit it with the pending change.

    Args:
        request: The current request (its correlation id is recorded).
        session: The session holding the change.
        actor: The authenticated caller.
        action: What was done, such as ``"match.create"``.
        target_type: Kind of the target, such as ``"match"``.
        target_id: The target's id.
        **detail: JSON-ready facts worth keeping (agents, scopes...).

    Raises:
        Exception: The commit failed; the session is rolled back and nothing is kept.

    """
    cid = correlation_id(request)
    try:
        audit.record(
            session,
            actor=actor.user,
            actor_kind=actor_kind(actor),
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            correlation_id=cid,
            detail=detail or None,
        )
        session.commit()
    except Exception:
        logger.exception(
            "audit entry %s on %s %s lost (correlation id %s)", action, target_type, target_id, cid
        )
        session.rollback()
        raise


__all__ = ["audit_call", "audit_context"]
