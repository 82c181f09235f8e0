"""Access tokens (short-lived JWTs) and rotating refresh tokens grouped in families.

Part of the accounts service (:mod:`devspark.services.accounts` re-exports these names).
Functions flush and never commit, except :meth:`TokenService.rotate_refresh` on a
detected reuse (see :mod:`devspark.services.accounts`).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from devspark.core.errors import InvalidArgumentError, UnauthenticatedError
from devspark.services.roles import Role
from devspark.store.models import RefreshTokenRow, UserRow, utcnow

__all__ = [
    "MIN_SECRET_LENGTH",
    "Claims",
    "TokenPair",
    "TokenService",
    "family_revoked",
    "revoke_user_tokens",
    "sha256_hex",
]

# -------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified content of an access token."""

    user_id: uuid.UUID
    role: Role
    issued_at: datetime
    expires_at: datetime
    jti: str
    family_id: uuid.UUID | None = None


class TokenPair(NamedTuple):
    """A fresh access token and the refresh token that replaces the presented one."""

    access: str
    refresh: str


def sha256_hex(value: str) -> str:
    """The hex sha256 of ``value`` (how refresh tokens and API key secrets are stored)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


MIN_SECRET_LENGTH = 32


class TokenService:
    """Short-lived JWT access tokens (HS256) and rotating opaque refresh tokens.

    Refresh tokens are random strings; only their sha256 is stored, in a
    :class:`~devspark.store.models.RefreshTokenRow` with a ``family_id`` shared by every
    token rotated from the same login. Presenting a token that was already rotated away
    (a reuse: the token was probably stolen) revokes the whole family. Access tokens
    name their family (claim ``fid``), so :meth:`check_access` refuses them as soon as
    the family is revoked (logout, reuse, a disabled account), not only at expiry.

    Args:
        secret: HMAC key, at least 32 characters (see :func:`secret_key`).
        access_ttl: Lifetime of access tokens.
        refresh_ttl: Lifetime of each refresh token.
        issuer: ``iss`` claim written and required.
        clock: Returns the current aware UTC time (tests inject a fake one).

    Raises:
        InvalidArgumentError: The secret is too short or a lifetime is not positive.
    """

    def __init__(
        self,
        secret: str,
        *,
        access_ttl: timedelta = timedelta(minutes=15),
        refresh_ttl: timedelta = timedelta(days=14),
        issuer: str = "devspark",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise InvalidArgumentError(
                f"secret must be at least {MIN_SECRET_LENGTH} characters, got {len(secret)}"
            )
        for name, ttl in (("access_ttl", access_ttl), ("refresh_ttl", refresh_ttl)):
            if ttl <= timedelta(0):
                raise InvalidArgumentError(f"{name} must be positive, got {ttl}")
        self._secret = secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.issuer = issuer
        self._clock = clock

    def issue_access(self, user: UserRow, family_id: uuid.UUID | None = None) -> str:
        """Return a signed access token with ``sub``, ``role``, ``iat``, ``exp``, ``jti``.

        Args:
            user: The token's subject.
            family_id: The refresh-token family (the login) the token belongs to, written
                as ``fid``; revoking the family then revokes the token too.

        """
        now = self._clock()
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": str(user.id),
            "role": user.role,
            "typ": "access",
            "iat": int(now.timestamp()),
            "exp": int((now + self.access_ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        if family_id is not None:
            payload["fid"] = str(family_id)
        return jwt.encode(payload, self._secret, algorithm="HS256")

    def verify_access(self, token: str) -> Claims:
        """Check an access token's signature, issuer and expiry; return its claims.

        Raises:
            UnauthenticatedError: The token is expired, tampered with or malformed.
        """
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=self.issuer,
                options={"require": ["iss", "sub", "role", "typ", "iat", "exp", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise UnauthenticatedError("access token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise UnauthenticatedError(f"access token is invalid: {exc}") from None
        if payload["typ"] != "access":
            raise UnauthenticatedError(f"token type must be 'access', got {payload['typ']!r}")
        try:
            user_id = uuid.UUID(str(payload["sub"]))
            role = Role(payload["role"])
            family = uuid.UUID(str(payload["fid"])) if "fid" in payload else None
        except ValueError:
            raise UnauthenticatedError("access token has a malformed subject or role") from None
        return Claims(
            user_id=user_id,
            role=role,
            issued_at=datetime.fromtimestamp(payload["iat"], UTC),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            jti=str(payload["jti"]),
            family_id=family,
        )

    def check_access(self, session: Session, token: str) -> Claims:
        """:meth:`verify_access`, then refuse a token whose refresh family is revoked.

        One indexed lookup (``refresh_tokens.family_id``) per call: a logout, a detected
        refresh-token reuse or a disabled account ends the login's access tokens at once
        instead of when they expire.

        Raises:
            UnauthenticatedError: The token is expired, tampered with, malformed, or its
                login has been revoked.
        """
        claims = self.verify_access(token)
        if claims.family_id is not None and family_revoked(session, claims.family_id):
            raise UnauthenticatedError("access token has been revoked (its login was ended)")
        return claims

    def start_login(self, session: Session, user: UserRow) -> TokenPair:
        """Open a new token family for ``user``: a refresh token and an access token in it.

        Args:
            session: Database session (flushed, the caller commits).
            user: Who logged in.
        """
        family = uuid.uuid4()
        refresh = self.issue_refresh(session, user, family)
        return TokenPair(access=self.issue_access(user, family), refresh=refresh)

    def issue_refresh(
        self, session: Session, user: UserRow, family_id: uuid.UUID | None = None
    ) -> str:
        """Store (the hash of) a new refresh token and return the token itself.

        Args:
            session: Database session (flushed, the caller commits).
            user: Owner of the token.
            family_id: The family to continue; a new family (a new login) when omitted.
        """
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session.add(
            RefreshTokenRow(
                user_id=user.id,
                family_id=family_id or uuid.uuid4(),
                token_hash=sha256_hex(token),
                issued_at=now,
                expires_at=now + self.refresh_ttl,
            )
        )
        session.flush()
        return token

    def rotate_refresh(self, session: Session, token: str) -> TokenPair:
        """Exchange a refresh token for a new access token and a new refresh token.

        The presented token is marked used; the new one joins its family. The row is read
        ``FOR UPDATE`` (on PostgreSQL) so two concurrent rotations cannot both succeed.

        Raises:
            UnauthenticatedError: Unknown, revoked or expired token, disabled account, or
                a reused token, in which case the whole family has been revoked and
                **committed** before raising.
        """
        row = session.scalar(
            select(RefreshTokenRow)
            .where(RefreshTokenRow.token_hash == sha256_hex(token))
            .with_for_update()
        )
        if row is None:
            raise UnauthenticatedError("refresh token is not recognised")
        if row.revoked_at is not None:
            raise UnauthenticatedError("refresh token has been revoked")
        if row.used_at is not None:
            self.revoke_family(session, row.family_id)
            session.commit()
            raise UnauthenticatedError(
                "refresh token was already used; every token of its family is now revoked"
            )
        now = self._clock()
        if row.expires_at <= now:
            raise UnauthenticatedError("refresh token has expired")
        user = session.get(UserRow, row.user_id)
        if user is None or user.disabled:
            raise UnauthenticatedError("account is disabled or no longer exists")
        row.used_at = now
        refresh = self.issue_refresh(session, user, row.family_id)
        return TokenPair(access=self.issue_access(user, row.family_id), refresh=refresh)

    def revoke_family(self, session: Session, family_id: uuid.UUID) -> int:
        """Revoke every live token of a family (logout, or reuse detected).

        Returns:
            How many tokens were revoked by this call.
        """
        result = session.execute(
            update(RefreshTokenRow)
            .where(RefreshTokenRow.family_id == family_id, RefreshTokenRow.revoked_at.is_(None))
            .values(revoked_at=self._clock())
            .execution_options(synchronize_session="fetch")
        )
        session.flush()
        return int(getattr(result, "rowcount", 0))


def family_revoked(session: Session, family_id: uuid.UUID) -> bool:
    """Whether a refresh-token family (a login) has been revoked."""
    found = session.scalar(
        select(RefreshTokenRow.id)
        .where(RefreshTokenRow.family_id == family_id, RefreshTokenRow.revoked_at.is_not(None))
        .limit(1)
    )
    return found is not None


def revoke_user_tokens(session: Session, user_id: uuid.UUID) -> int:
    """Revoke every live refresh token of a user, and with them its access tokens.

    Args:
        session: Database session (flushed, the caller commits).
        user_id: The account.

    Returns:
        How many refresh tokens were revoked.
    """
    result = session.execute(
        update(RefreshTokenRow)
        .where(RefreshTokenRow.user_id == user_id, RefreshTokenRow.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    return int(getattr(result, "rowcount", 0))
