"""The audit context of an API call: who acts (actor and how authenticated), under which id.

A route that changes state passes :func:`audit_context` to the one service use case it
calls; the use case records the audit entry and commits it together with its change
(see :class:`devspark.services.audit.AuditContext`), so a change without its audit entry
is never kept.
"""

from __future__ import annotations

from fastapi import Request

from devspark.server.auth import Actor, actor_kind
from devspark.server.errors import correlation_id
from devspark.services import audit


def audit_context(request: Request, actor: Actor) -> audit.AuditContext:
    """The audit context of a request: its actor, how it authenticated, its correlation id."""
    return audit.AuditContext(
        actor=actor.user, actor_kind=actor_kind(actor), correlation_id=correlation_id(request)
    )


__all__ = ["audit_context"]
