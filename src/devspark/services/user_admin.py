"""Account use cases: create, register, change and list accounts; create and revoke API keys.

Used by ``/api/v1/users``, ``POST /api/v1/auth/register`` and ``devspark users``. Each
use case takes the :class:`~devspark.services.audit.AuditContext` of whoever acts, makes
its change, records its audit entry and commits once; on any failure (the audit insert
included) it rolls back (:func:`~devspark.services.transaction.in_transaction`), so a
change without its audit entry is never kept. Routes and commands call one of these and
never commit themselves.

:func:`find_user` and :func:`update_user` are building blocks (they flush, never commit).
"""

from __future__ import annotations

import difflib
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from devspark.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from devspark.services import accounts
from devspark.services.accounts import CreatedApiKey, Role, parse_role, revoke_user_tokens
from devspark.services.audit import AuditContext
from devspark.services.registry import Page
from devspark.services.transaction import in_transaction
from devspark.store.models import ApiKeyRow, UserRow

__all__ = [
    "CLI_KEY_NAME",
    "NewAccount",
    "UserChange",
    "all_users",
    "change_user",
    "create_api_key",
    "create_user",
    "find_user",
    "list_api_keys",
    "list_users",
    "register_user",
    "revoke_api_key",
    "update_user",
]

CLI_KEY_NAME = "devspark users create"
"""The name of the API key :func:`create_user` makes when asked for one."""

_GENERATED_PASSWORD_BYTES = 24  # 192 random bits, 32 URL-safe characters


@dataclass(frozen=True, slots=True)
class UserChange:
    """What :func:`update_user` (and :func:`change_user`) changed, for the audit entry.

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

    A building block: :func:`change_user` is the use case (audited, committed).

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


# ----------------------------------------------------------------------- use cases


@dataclass(frozen=True, slots=True)
class NewAccount:
    """What :func:`create_user` made; its secrets are shown this once and never stored.

    Attributes:
        user: The account (committed).
        password: The generated password, or ``None`` when the caller gave one.
        api_key: The API key with its secret, when one was asked for.

    """

    user: UserRow
    password: str | None = None
    api_key: CreatedApiKey | None = None


def create_user(
    session: Session,
    username: str,
    role: Role | str,
    *,
    audit: AuditContext,
    password: str | None = None,
    email: str | None = None,
    api_key: bool = False,
    hasher: PasswordHasher | None = None,
    detail: Mapping[str, Any] | None = None,
) -> NewAccount:
    """Create an account with any role (an operator's or an admin's use case; commits).

    Audited as ``user.create`` and, with ``api_key``, ``api_key.create``, in the same
    transaction as the account.

    Args:
        session: Database session.
        username: 3-64 characters of ``a-z 0-9 _ . -`` (stored lower-cased).
        role: The account's role.
        audit: Who creates it.
        password: The password; a strong random one is generated when omitted.
        email: Optional contact address.
        api_key: Also create an API key (named :data:`CLI_KEY_NAME`) holding every scope
            of the role (:func:`~devspark.services.roles.role_scopes`).
        hasher: Argon2 parameters (the default ones when omitted).
        detail: Further facts for the audit entries, such as ``{"via": "cli"}``.

    Returns:
        The account, the generated password (if any) and the key (if asked).

    Raises:
        InvalidArgumentError: Bad username, password, email or role (the role's message
            lists the roles and suggests the nearest).
        ConflictError: The username is taken.

    """
    role = parse_role(role)
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(_GENERATED_PASSWORD_BYTES)

    def change() -> NewAccount:
        user = accounts.register(session, username, password, email, role, hasher=hasher)
        audit.record(
            session,
            "user.create",
            "user",
            user.id,
            username=user.username,
            role=role.value,
            **dict(detail or {}),
        )
        scopes = accounts.role_scopes(role)
        key = _new_key(session, user, CLI_KEY_NAME, scopes, audit, detail) if api_key else None
        return NewAccount(user=user, password=generated, api_key=key)

    return in_transaction(session, change)


def register_user(
    session: Session,
    username: str,
    password: str,
    email: str | None,
    *,
    audit: AuditContext,
    hasher: PasswordHasher | None = None,
) -> UserRow:
    """Self-service registration: a new account with the role ``user`` (commits).

    Audited as ``user.register`` with the new account as its actor.

    Args:
        session: Database session.
        username: 3-64 characters of ``a-z 0-9 _ . -`` (stored lower-cased).
        password: At least 8 characters.
        email: Optional contact address.
        audit: The request's context (its actor, if any, is replaced by the new account).
        hasher: Argon2 parameters (the default ones when omitted).

    Raises:
        InvalidArgumentError: Bad username, password or email.
        ConflictError: The username is taken.

    """

    def change() -> UserRow:
        user = accounts.register(session, username, password, email, Role.USER, hasher=hasher)
        replace(audit, actor=user).record(session, "user.register", "user", user.id)
        return user

    return in_transaction(session, change)


def change_user(
    session: Session,
    user_id: uuid.UUID,
    *,
    audit: AuditContext,
    role: Role | str | None = None,
    disabled: bool | None = None,
    detail: Mapping[str, Any] | None = None,
) -> UserChange:
    """Change an account's role and/or disabled flag (commits; see :func:`update_user`).

    Audited as ``user.update`` with what changed, even when nothing did.

    Args:
        session: Database session.
        user_id: The account.
        audit: Who changes it.
        role: The new role, when it changes.
        disabled: The new disabled flag, when it changes.
        detail: Further facts for the audit entry, such as ``{"via": "cli"}``.

    Returns:
        The account and what changed.

    Raises:
        InvalidArgumentError: An unknown role (with a suggestion) or nothing to change.
        NotFoundError: No account has this id.
        ConflictError: The change would leave no active administrator.

    """

    def change() -> UserChange:
        changed = update_user(session, user_id, role=role, disabled=disabled)
        facts = {**changed.detail(), **dict(detail or {})}
        audit.record(session, "user.update", "user", user_id, **facts)
        return changed

    return in_transaction(session, change)


def create_api_key(
    session: Session,
    owner: UserRow,
    name: str,
    scopes: Iterable[str],
    *,
    audit: AuditContext,
) -> CreatedApiKey:
    """Create an API key for ``owner`` (commits; audited as ``api_key.create``).

    Args:
        session: Database session.
        owner: The key's owner; the key acts with this account's role.
        name: A label, 1-128 characters.
        scopes: What the key may do, such as ``"agents:write"`` or ``"*"``.
        audit: Who creates it.

    Returns:
        The stored key and its secret, shown this once.

    Raises:
        InvalidArgumentError: Bad name or scope.
        PermissionDeniedError: The account is disabled.

    """
    return in_transaction(session, lambda: _new_key(session, owner, name, scopes, audit, None))


def _new_key(
    session: Session,
    owner: UserRow,
    name: str,
    scopes: Iterable[str],
    audit: AuditContext,
    detail: Mapping[str, Any] | None,
) -> CreatedApiKey:
    created = accounts.create_api_key(session, owner, name, scopes)
    audit.record(
        session,
        "api_key.create",
        "api_key",
        created.row.id,
        prefix=created.row.prefix,
        scopes=list(created.row.scopes),
        **dict(detail or {}),
    )
    return created


def revoke_api_key(
    session: Session, key_id: uuid.UUID, actor: UserRow, *, audit: AuditContext
) -> ApiKeyRow:
    """Revoke a key: its owner or an admin may (commits; audited as ``api_key.revoke``).

    Revoking twice keeps the first time (and is audited again).

    Args:
        session: Database session.
        key_id: The key.
        actor: Who revokes it.
        audit: The context the entry is recorded with.

    Raises:
        NotFoundError: No key has this id.
        PermissionDeniedError: ``actor`` is neither the owner nor an admin.

    """

    def change() -> ApiKeyRow:
        key = accounts.revoke_api_key(session, key_id, actor)
        owner = str(key.user_id)
        audit.record(
            session, "api_key.revoke", "api_key", key.id, prefix=key.prefix, owner_id=owner
        )
        return key

    return in_transaction(session, change)


# ------------------------------------------------------------------------ listings


def list_users(session: Session, offset: int, limit: int) -> Page[UserRow]:
    """A page of every account, oldest first (``offset`` and ``limit`` already checked)."""
    total = session.scalar(select(func.count()).select_from(UserRow)) or 0
    rows = session.scalars(
        select(UserRow).order_by(UserRow.created_at, UserRow.username).offset(offset).limit(limit)
    )
    return Page(items=list(rows), total=total, offset=offset, limit=limit)


def list_api_keys(session: Session, user_id: uuid.UUID, offset: int, limit: int) -> Page[ApiKeyRow]:
    """A page of an account's API keys, revoked ones included, oldest first."""
    owned = ApiKeyRow.user_id == user_id
    total = session.scalar(select(func.count()).select_from(ApiKeyRow).where(owned)) or 0
    rows = session.scalars(
        select(ApiKeyRow)
        .where(owned)
        .order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        .offset(offset)
        .limit(limit)
    )
    return Page(items=list(rows), total=total, offset=offset, limit=limit)


def all_users(session: Session) -> list[UserRow]:
    """Every account, oldest first (``devspark users list``)."""
    return list(session.scalars(select(UserRow).order_by(UserRow.created_at, UserRow.username)))
