"""Login use cases: log in, rotate a refresh token, log out (``/api/v1/auth``).

Each commits once (:func:`~devspark.services.transaction.in_transaction`); logging in and
out record their audit entry (``auth.login``, ``auth.logout``) in the same transaction,
with the account as the actor, so neither is kept without its entry.
"""

from __future__ import annotations

from dataclasses import replace

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from devspark.core.errors import UnauthenticatedError
from devspark.services import accounts
from devspark.services.accounts import TokenPair, TokenService
from devspark.services.audit import AuditContext
from devspark.services.tokens import sha256_hex
from devspark.services.transaction import in_transaction
from devspark.store.models import RefreshTokenRow, UserRow

__all__ = ["log_in", "log_out", "refresh"]


def log_in(
    session: Session,
    tokens: TokenService,
    username: str,
    password: str,
    *,
    audit: AuditContext,
    hasher: PasswordHasher | None = None,
) -> TokenPair:
    """Check a username and password and open a login (a refresh-token family).

    Args:
        session: Database session.
        tokens: The server's token service.
        username: The login name (case-insensitive).
        password: The password presented.
        audit: The request's context (its actor is replaced by the account).
        hasher: Argon2 parameters (the default ones when omitted).

    Returns:
        The access token and the refresh token.

    Raises:
        UnauthenticatedError: Bad credentials.
        PermissionDeniedError: The account is disabled.

    """

    def change() -> TokenPair:
        user = accounts.authenticate(session, username, password, hasher=hasher)
        pair = tokens.start_login(session, user)
        replace(audit, actor=user).record(session, "auth.login", "user", user.id)
        return pair

    return in_transaction(session, change)


def refresh(session: Session, tokens: TokenService, refresh_token: str) -> TokenPair:
    """Exchange a refresh token for a new pair (see :meth:`TokenService.rotate_refresh`).

    Raises:
        UnauthenticatedError: Unknown, revoked, expired or reused token, or a disabled
            account (a reuse has revoked the whole family, and that is kept).

    """
    return in_transaction(session, lambda: tokens.rotate_refresh(session, refresh_token))


def log_out(
    session: Session, tokens: TokenService, refresh_token: str, *, audit: AuditContext
) -> int:
    """Revoke the refresh token's whole family (the login), access tokens included.

    Logging out twice is harmless (and audited again).

    Args:
        session: Database session.
        tokens: The server's token service.
        refresh_token: A refresh token of the login.
        audit: The request's context (its actor is replaced by the account).

    Returns:
        How many refresh tokens this call revoked.

    Raises:
        UnauthenticatedError: The token is not recognised.

    """

    def change() -> int:
        row = session.scalar(
            select(RefreshTokenRow).where(RefreshTokenRow.token_hash == sha256_hex(refresh_token))
        )
        if row is None:
            raise UnauthenticatedError("refresh token is not recognised")
        revoked = tokens.revoke_family(session, row.family_id)
        who = replace(audit, actor=session.get(UserRow, row.user_id))
        who.record(session, "auth.logout", "user", row.user_id, revoked_tokens=revoked)
        return revoked

    return in_transaction(session, change)
