"""Audit log: who changed what, when, under which correlation id.

Like :mod:`devspark.services.accounts`, these functions flush and never commit: record
the audit entry in the same transaction as the change it describes, so both land or
neither does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from devspark.core.errors import InvalidArgumentError
from devspark.store.models import AuditLogRow, UserRow

__all__ = ["ACTOR_KINDS", "MAX_RECENT", "SYSTEM", "AuditContext", "recent", "record"]

ACTOR_KINDS = ("user", "api_key", "agent", "system")
"""How the actor authenticated: a login (access token), an API key, an agent, the server."""

MAX_RECENT = 1000


def _bounded(name: str, value: str, limit: int) -> str:
    if not value or len(value) > limit:
        raise InvalidArgumentError(f"{name} must be 1-{limit} characters, got {value!r}")
    return value


def record(
    session: Session,
    *,
    actor: UserRow | None,
    actor_kind: str,
    action: str,
    target_type: str,
    target_id: str | None,
    correlation_id: str | None,
    detail: dict[str, Any] | None = None,
) -> AuditLogRow:
    """Add one audit entry (flushed, the caller commits with the change it describes).

    Args:
        session: Database session.
        actor: The user who acted, ``None`` for the server itself.
        actor_kind: One of :data:`ACTOR_KINDS`.
        action: What was done, such as ``"agent.create"`` (at most 64 characters).
        target_type: Kind of the target, such as ``"agent"`` (at most 32 characters).
        target_id: The target's id; stored as ``""`` when there is none.
        correlation_id: The request's correlation id; a new random one when omitted, so
            every entry can still be referred to.
        detail: JSON-serialisable extra facts (never secrets).

    Raises:
        InvalidArgumentError: An unknown actor kind or an empty or over-long field.
    """
    if actor_kind not in ACTOR_KINDS:
        raise InvalidArgumentError(
            f"actor_kind must be one of {', '.join(ACTOR_KINDS)}, got {actor_kind!r}"
        )
    if target_id is not None and len(target_id) > 128:
        raise InvalidArgumentError(f"target_id must be at most 128 characters, got {target_id!r}")
    row = AuditLogRow(
        actor_id=actor.id if actor is not None else None,
        actor_kind=actor_kind,
        action=_bounded("action", action, 64),
        target_type=_bounded("target_type", target_type, 32),
        target_id=target_id or "",
        correlation_id=_bounded(
            "correlation_id", correlation_id if correlation_id is not None else uuid.uuid4().hex, 64
        ),
        detail=dict(detail or {}),
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who acts in a use case, so that the use case writes its own audit entry.

    A write use case takes one of these, makes its change, calls :meth:`record` and
    commits once: the change and its entry land together or not at all.

    Attributes:
        actor: The user who acts; ``None`` for the platform itself.
        actor_kind: How the actor authenticated (one of :data:`ACTOR_KINDS`).
        correlation_id: The request's correlation id (``None``: a fresh one per entry).

    """

    actor: UserRow | None
    actor_kind: str
    correlation_id: str | None = None

    def record(
        self,
        session: Session,
        action: str,
        target_type: str,
        target_id: uuid.UUID | str | None,
        **detail: Any,
    ) -> AuditLogRow:
        """Add the entry for ``action`` on a target (flushed; the use case commits)."""
        return record(
            session,
            actor=self.actor,
            actor_kind=self.actor_kind,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            correlation_id=self.correlation_id,
            detail=detail or None,
        )


SYSTEM = AuditContext(actor=None, actor_kind="system")
"""The platform acting on its own (seeding, workers, the command line without a user)."""


def recent(session: Session, limit: int = 100) -> list[AuditLogRow]:
    """Return up to ``limit`` (1-:data:`MAX_RECENT`) entries, newest first.

    Raises:
        InvalidArgumentError: ``limit`` is out of range.
    """
    if not 1 <= limit <= MAX_RECENT:
        raise InvalidArgumentError(f"limit must be between 1 and {MAX_RECENT}, got {limit}")
    query = select(AuditLogRow).order_by(AuditLogRow.at.desc()).limit(limit)
    return list(session.scalars(query))
