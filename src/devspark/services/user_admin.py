"""Account administration: change a user's role, disable or enable an account.

Used by ``PATCH /api/v1/users/{id}`` and ``devspark users``. Like
:mod:`devspark.services.accounts`, nothing here commits: the caller records the audit
entry from :class:`UserChange` and commits both together.
"""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from devspark.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from devspark.services.accounts import Role, parse_role, revoke_user_tokens
from devspark.store.models import UserRow

__all__ = ["UserChange", "find_user", "update_user"]


@dataclass(frozen=True, slots=True)
class UserChange:
    """What :func:`update_user` changed, for the audit entry.

    Attributes:
        user: The account after the change.
        changes: ``{field: [before, after]}`` of the fields that changed.
        revoked_tokens: Refresh tokens revoked because the account was disabled.

    """

    user: UserRow
    changes: dict[str, list[Any]] = field(default_factory=dict)
    revoked_tokens: int = 0

    def detail(self) -> dict[str, Any]:
        """The audit entry's detail (JSON-ready)."""
        return {
            "username": self.user.username,
            **self.changes,
            "revoked_tokens": self.revoked_tokens,
        }


def find_user(session: Session, username: str) -> UserRow:
    """The account with this login name (case-insensitive).

    Raises:
        NotFoundError: No such account (names near ones, if any).
    """
    name = username.strip().lower()
    user = session.scalar(select(UserRow).where(UserRow.username == name))
    if user is None:
        names = session.scalars(select(UserRow.username)).all()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise NotFoundError(f"user {username!r} does not exist{hint}")
    return user


def update_user(
    session: Session,
    user_id: uuid.UUID,
    *,
    role: Role | str | None = None,
    disabled: bool | None = None,
) -> UserChange:
    """Change an account's role and/or disabled flag (flushed, not committed).

    Disabling an account revokes all its refresh tokens, and with them its access
    tokens. The last active administrator can be neither demoted nor disabled: the
    active administrators' rows are locked (``FOR UPDATE`` on PostgreSQL, in id order,
    before the target's own row, so concurrent changes cannot deadlock) while this is
    checked, and two concurrent demotions cannot both pass.

    Args:
        session: Database session (the caller commits with the audit entry).
        user_id: The account.
        role: The new role, when it changes.
        disabled: The new disabled flag, when it changes.

    Returns:
        The account and what changed (nothing, when the values were already set).

    Raises:
        InvalidArgumentError: An unknown role (with a suggestion) or nothing to change.
        NotFoundError: No account has this id.
        ConflictError: The change would leave no active administrator.
    """
    if role is None and disabled is None:
        raise InvalidArgumentError("give at least one of role, disabled")
    new_role = None if role is None else parse_role(role)
    user = session.get(UserRow, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} does not exist")
    if user.role == Role.ADMIN and not user.disabled:
        _lock_admins(session)
    session.refresh(user, with_for_update=True)
    was_admin = user.role == Role.ADMIN and not user.disabled
    stays_admin = (new_role or Role(user.role)) is Role.ADMIN and not (
        user.disabled if disabled is None else disabled
    )
    if was_admin and not stays_admin:
        _keep_an_admin(session, user)
    changes: dict[str, list[Any]] = {}
    if new_role is not None and new_role.value != user.role:
        changes["role"] = [user.role, new_role.value]
        user.role = new_role.value
    if disabled is not None and disabled != user.disabled:
        changes["disabled"] = [user.disabled, disabled]
        user.disabled = disabled
    revoked = revoke_user_tokens(session, user.id) if disabled else 0
    session.flush()
    return UserChange(user=user, changes=changes, revoked_tokens=revoked)


def _active_admins() -> Select[uuid.UUID]:
    return (
        select(UserRow.id)
        .where(UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False))
        .order_by(UserRow.id)
    )


def _lock_admins(session: Session) -> None:
    session.scalars(_active_admins().with_for_update()).all()


def _keep_an_admin(session: Session, leaving: UserRow) -> None:
    """Refuse when ``leaving`` is the only active administrator (rows already locked)."""
    if not [admin for admin in session.scalars(_active_admins()) if admin != leaving.id]:
        raise ConflictError(
            f"user {leaving.username!r} is the last active admin; make another account admin first"
        )
