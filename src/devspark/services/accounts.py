"""Accounts: roles and permissions, passwords, access and refresh tokens, API keys.

Transactions: the caller owns them. Every function here adds, changes and *flushes* rows
but never commits, so a use case (an HTTP handler, a CLI command) can combine several
calls and an audit record in one transaction. The single exception is refresh-token reuse
detection in :meth:`TokenService.rotate_refresh`: it commits the revocation of the token
family before raising, because a caller that rolls back on the error would otherwise undo
the security response.

Authentication failures (bad credentials; an unknown, expired or reused token or key)
raise :class:`~devspark.core.errors.UnauthenticatedError` (code ``unauthenticated``,
HTTP 401); refusals of a known caller (a disabled account, a missing scope, someone
else's key) raise :class:`~devspark.core.errors.PermissionDeniedError` (403).
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import logging
import os
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from devspark.core.errors import (
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from devspark.services.password_slots import PASSWORD_SLOTS, HashSlots
from devspark.store.models import ApiKeyRow, RefreshTokenRow, UserRow, utcnow

__all__ = [
    "API_KEY_PREFIX",
    "DEFAULT_HASHER",
    "MIN_PASSWORD_LENGTH",
    "SECRET_KEY_ENV",
    "Action",
    "ApiKeyIdentity",
    "Claims",
    "CreatedApiKey",
    "Role",
    "TokenPair",
    "TokenService",
    "authenticate",
    "authenticate_api_key",
    "can",
    "check_text",
    "create_api_key",
    "family_revoked",
    "has_scope",
    "parse_role",
    "register",
    "require_scope",
    "revoke_api_key",
    "revoke_user_tokens",
    "secret_key",
]

logger = logging.getLogger(__name__)
_E = TypeVar("_E", bound=StrEnum)

# --------------------------------------------------------------------------- roles


class Role(StrEnum):
    """An account's role (stored in ``users.role``)."""

    VIEWER = "viewer"
    USER = "user"
    AGENT = "agent"
    ADMIN = "admin"


class Action(StrEnum):
    """What a caller wants to do with a resource."""

    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXECUTE = "execute"
    ADMIN = "admin"


_ALLOWED: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.READ}),
    Role.USER: frozenset({Action.READ, Action.CREATE, Action.UPDATE, Action.DELETE}),
    Role.AGENT: frozenset({Action.READ, Action.EXECUTE}),
    Role.ADMIN: frozenset(Action),
}
_OWNED_ACTIONS = frozenset({Action.UPDATE, Action.DELETE})


def can(
    role: Role | str,
    action: Action | str,
    *,
    owner_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
) -> bool:
    """Whether ``role`` may perform ``action`` on a resource owned by ``owner_id``.

    The matrix ("own" means ``owner_id == actor_id``, both given):

    ======  ====  ======  ======  ======  =======  =====
    role    read  create  update  delete  execute  admin
    ======  ====  ======  ======  ======  =======  =====
    viewer  yes   no      no      no      no       no
    user    yes   yes     own     own     no       no
    agent   yes   no      no      no      yes      no
    admin   yes   yes     yes     yes     yes      yes
    ======  ====  ======  ======  ======  =======  =====

    ``read`` means public resources (what a route exposes to any authenticated caller);
    ``execute`` is what an agent identity does: submit results, fetch what it plays with.
    A user's ``update``/``delete`` without a known owner is refused (fail closed). API
    key scopes narrow this further (see :func:`has_scope`); they never widen it.

    Args:
        role: The actor's role.
        action: The action asked for.
        owner_id: Owner of the resource, when it has one.
        actor_id: The actor's user id.

    Raises:
        InvalidArgumentError: ``role`` or ``action`` is not a known value.
    """
    role = _enum(Role, role, "role")
    action = _enum(Action, action, "action")
    if action not in _ALLOWED[role]:
        return False
    if role is Role.ADMIN or action not in _OWNED_ACTIONS:
        return True
    return owner_id is not None and actor_id is not None and owner_id == actor_id


def _enum(kind: type[_E], value: _E | str, name: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = [member.value for member in kind]
        close = difflib.get_close_matches(str(value).lower(), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InvalidArgumentError(
            f"{name} must be one of {', '.join(allowed)}, got {value!r}{hint}"
        ) from None


def parse_role(value: Role | str) -> Role:
    """The :class:`Role` named by ``value``.

    Raises:
        InvalidArgumentError: Not a role; the message lists the roles and suggests the
            nearest one.

    """
    return _enum(Role, value, "role")


def check_text(name: str, value: str) -> str:
    """Refuse a NUL character in text bound for the database (PostgreSQL cannot store it).

    Args:
        name: The field, named in the error.
        value: The text.

    Returns:
        ``value`` unchanged.

    Raises:
        InvalidArgumentError: ``value`` contains a NUL character (``U+0000``).

    """
    if "\x00" in value:
        raise InvalidArgumentError(f"{name} must not contain NUL characters, got {value!r}")
    return value


# ----------------------------------------------------------------------- passwords

MIN_PASSWORD_LENGTH = 8
_MAX_PASSWORD_LENGTH = 1024  # argon2 accepts more; this bounds the work one request can ask
_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{2,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_BAD_LOGIN = "invalid username or password"

DEFAULT_HASHER = PasswordHasher()
"""argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile: t=3, 64 MiB, p=4)."""


def _normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise InvalidArgumentError(
            "username must be 3-64 characters of a-z, 0-9, '_', '.', '-' starting with a "
            f"letter or digit, got {username!r}"
        )
    return name


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgumentError(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters, got {len(password)}"
        )
    if len(password) > _MAX_PASSWORD_LENGTH:
        raise InvalidArgumentError(
            f"password must be at most {_MAX_PASSWORD_LENGTH} characters, got {len(password)}"
        )


def register(
    session: Session,
    username: str,
    password: str,
    email: str | None = None,
    role: Role | str = Role.USER,
    *,
    hasher: PasswordHasher | None = None,
    slots: HashSlots = PASSWORD_SLOTS,
) -> UserRow:
    """Create an account with an argon2id password hash (flushed, not committed).

    Usernames are case-insensitive: they are stored lower-cased.

    Args:
        session: Database session (the caller commits).
        username: 3-64 characters of ``a-z 0-9 _ . -``.
        password: At least :data:`MIN_PASSWORD_LENGTH` characters.
        email: Optional contact address.
        role: The account's role.
        hasher: Argon2 parameters; :data:`DEFAULT_HASHER` when omitted.
        slots: The bound on concurrent argon2 work.

    Raises:
        InvalidArgumentError: Bad username, password, email or role (a NUL character
            included).
        ConflictError: The username is taken. If another transaction took it between the
            check and the insert, the session must be rolled back by the caller.
    """
    name = _normalise_username(username)
    _check_password(password)
    role = _enum(Role, role, "role")
    if email is not None and (len(check_text("email", email)) > 320 or not _EMAIL.fullmatch(email)):
        raise InvalidArgumentError(f"email must look like name@host, got {email!r}")
    if session.scalar(select(UserRow.id).where(UserRow.username == name)) is not None:
        raise ConflictError(f"username {name!r} is already taken")
    with slots.hold():
        password_hash = (hasher or DEFAULT_HASHER).hash(password)
    user = UserRow(
        username=name, email=email, password_hash=password_hash, role=role.value, disabled=False
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"username {name!r} is already taken") from exc
    return user


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    hasher: PasswordHasher | None = None,
    slots: HashSlots = PASSWORD_SLOTS,
) -> UserRow:
    """Check a username and password; rehash the password if ``hasher``'s cost changed.

    Unknown users, wrong passwords and accounts without a password all fail with the
    same message, after the same argon2 work.

    Args:
        session: Database session (a rehash is flushed, the caller commits).
        username: The login name (case-insensitive).
        password: The password presented.
        hasher: Argon2 parameters; :data:`DEFAULT_HASHER` when omitted.
        slots: The bound on concurrent argon2 work (a caller waits for a free slot).

    Raises:
        InvalidArgumentError: The username contains a NUL character.
        UnauthenticatedError: Bad credentials.
        PermissionDeniedError: The account is disabled.
    """
    hasher = hasher or DEFAULT_HASHER
    name = check_text("username", username).strip().lower()
    user = session.scalar(select(UserRow).where(UserRow.username == name))
    stored = user.password_hash if user is not None else None
    try:
        with slots.hold():
            hasher.verify(stored or _dummy_hash(hasher), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise UnauthenticatedError(_BAD_LOGIN) from None
    if user is None or stored is None:
        raise UnauthenticatedError(_BAD_LOGIN)
    if user.disabled:
        raise PermissionDeniedError(f"account {user.username!r} is disabled")
    if hasher.check_needs_rehash(stored):
        with slots.hold():
            user.password_hash = hasher.hash(password)
        session.flush()
    return user


_DUMMY_HASHES: dict[tuple[int, int, int, int, int], str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of a random password with ``hasher``'s parameters (equalises timing)."""
    key = (
        hasher.time_cost,
        hasher.memory_cost,
        hasher.parallelism,
        hasher.hash_len,
        hasher.salt_len,
    )
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASHES[key]


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


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


_MIN_SECRET_LENGTH = 32


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
        if len(secret) < _MIN_SECRET_LENGTH:
            raise InvalidArgumentError(
                f"secret must be at least {_MIN_SECRET_LENGTH} characters, got {len(secret)}"
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
                token_hash=_sha256(token),
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
            .where(RefreshTokenRow.token_hash == _sha256(token))
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


# ------------------------------------------------------------------------ API keys

API_KEY_PREFIX = "dsk"
_SCOPE = re.compile(r"\*|[a-z][a-z_]*:(\*|[a-z][a-z_]*)")
_KEY_FORMAT = re.compile(rf"{API_KEY_PREFIX}_([0-9a-f]{{12}})_([0-9a-f]{{64}})")
_BAD_KEY = "API key is not recognised"


class CreatedApiKey(NamedTuple):
    """A new API key's row and its secret, which is shown this once and never stored."""

    row: ApiKeyRow
    secret: str


class ApiKeyIdentity(NamedTuple):
    """Who an API key authenticates, and the key itself (for its scopes)."""

    user: UserRow
    key: ApiKeyRow


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    checked = list(dict.fromkeys(scopes))
    for scope in checked:
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            raise InvalidArgumentError(
                f"scope must be 'resource:verb', 'resource:*' or '*', got {scope!r}"
            )
    return checked


def create_api_key(
    session: Session, user: UserRow, name: str, scopes: Iterable[str]
) -> CreatedApiKey:
    """Create an API key ``dsk_<prefix>_<secret>`` for ``user``; return it once.

    The key is ``dsk_`` + 12 hex digits of public prefix (stored, used for lookup and
    display) + ``_`` + 64 hex digits (256 random bits) of secret. Only the sha256 of the
    secret is stored: a salted slow hash such as argon2 protects guessable passwords, but
    it would cost tens of milliseconds per request, and a 256-bit random secret cannot be
    guessed, so a fast unsalted hash is the standard choice for API keys.

    Args:
        session: Database session (flushed, the caller commits).
        user: The key's owner; the key acts with this user's role.
        name: A label, 1-128 characters.
        scopes: What the key may do, such as ``"agents:read"``, ``"matches:*"`` or ``"*"``.

    Raises:
        InvalidArgumentError: Bad name (a NUL character included) or scope.
        PermissionDeniedError: The account is disabled.
    """
    if not 1 <= len(check_text("name", name).strip()) <= 128:
        raise InvalidArgumentError(f"name must be 1-128 characters, got {name!r}")
    checked = _check_scopes(scopes)
    if user.disabled:
        raise PermissionDeniedError(f"account {user.username!r} is disabled")
    prefix, secret = secrets.token_hex(6), secrets.token_hex(32)
    row = ApiKeyRow(
        user_id=user.id,
        name=name.strip(),
        prefix=prefix,
        key_hash=_sha256(secret),
        scopes=checked,
    )
    session.add(row)
    session.flush()
    return CreatedApiKey(row=row, secret=f"{API_KEY_PREFIX}_{prefix}_{secret}")


def authenticate_api_key(session: Session, presented: str) -> ApiKeyIdentity:
    """Find the live key matching ``presented`` and its user; record ``last_used_at``.

    Raises:
        UnauthenticatedError: Malformed, unknown or revoked key, or disabled account.
    """
    match = _KEY_FORMAT.fullmatch(presented.strip())
    if match is None:
        raise UnauthenticatedError(_BAD_KEY)
    prefix, digest = match.group(1), _sha256(match.group(2))
    candidates = session.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).all()
    key = next((row for row in candidates if hmac.compare_digest(row.key_hash, digest)), None)
    if key is None:
        raise UnauthenticatedError(_BAD_KEY)
    if key.revoked_at is not None:
        raise UnauthenticatedError(f"API key {prefix!r} has been revoked")
    user = session.get(UserRow, key.user_id)
    if user is None or user.disabled:
        raise UnauthenticatedError("account is disabled or no longer exists")
    key.last_used_at = utcnow()
    session.flush()
    return ApiKeyIdentity(user=user, key=key)


def revoke_api_key(session: Session, key_id: uuid.UUID, actor: UserRow) -> ApiKeyRow:
    """Revoke a key; only its owner or an admin may. Revoking twice keeps the first time.

    Raises:
        NotFoundError: No key has this id.
        PermissionDeniedError: ``actor`` is neither the owner nor an admin.
    """
    key = session.get(ApiKeyRow, key_id)
    if key is None:
        raise NotFoundError(f"API key {key_id} does not exist")
    if key.user_id != actor.id and actor.role != Role.ADMIN:
        raise PermissionDeniedError(
            f"user {actor.username!r} may not revoke API key {key.prefix!r} of another user"
        )
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key


def has_scope(key: ApiKeyRow, required: str) -> bool:
    """Whether ``key`` grants ``required`` (``"resource:verb"``).

    A key scope matches exactly, by ``"resource:*"``, or by ``"*"``.
    """
    resource = required.split(":", 1)[0]
    return any(scope in ("*", required, f"{resource}:*") for scope in key.scopes)


def require_scope(key: ApiKeyRow, required: str) -> None:
    """Raise unless ``key`` grants ``required``.

    Raises:
        PermissionDeniedError: The scope is missing.
    """
    if not has_scope(key, required):
        raise PermissionDeniedError(
            f"API key {key.prefix!r} lacks scope {required!r} (has {sorted(key.scopes)})"
        )


# ---------------------------------------------------------------------- secret key

SECRET_KEY_ENV = "DEVSPARK_SECRET_KEY"  # noqa: S105 -- the variable's name, not a secret


def secret_key(
    dev_mode: bool,
    *,
    environ: Mapping[str, str] | None = None,
    key_file: Path | None = None,
) -> str:
    """Return the server's signing secret from ``DEVSPARK_SECRET_KEY``.

    Args:
        dev_mode: In development mode a missing secret is replaced by a generated one,
            with a logged warning: kept in ``key_file`` when given (created on first use,
            readable by its owner only, so logins survive a restart), ephemeral
            otherwise (tokens then die with the process).
        environ: Environment to read; :data:`os.environ` when omitted.
        key_file: Where development mode keeps its generated secret.

    Raises:
        FailedPreconditionError: Outside development mode the variable is unset or
            shorter than 32 characters.
    """
    env = os.environ if environ is None else environ
    value = env.get(SECRET_KEY_ENV, "")
    if len(value) >= _MIN_SECRET_LENGTH:
        return value
    if value:
        problem = (
            f"{SECRET_KEY_ENV} must be at least {_MIN_SECRET_LENGTH} characters, got {len(value)}"
        )
    else:
        problem = f"{SECRET_KEY_ENV} is not set"
    if not dev_mode:
        raise FailedPreconditionError(
            f"{problem}; a secret key is required outside development mode "
            f"(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if key_file is None:
        logger.warning("%s; using an ephemeral secret key (development mode only)", problem)
        return secrets.token_urlsafe(48)
    return _development_key(key_file, problem)


def _development_key(key_file: Path, problem: str) -> str:
    try:
        stored = key_file.read_text().strip()
    except FileNotFoundError:
        stored = ""
    if len(stored) >= _MIN_SECRET_LENGTH:
        logger.warning("%s; using the development secret key in %s", problem, key_file)
        return stored
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_urlsafe(48)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(fresh + "\n")
    logger.warning("%s; generated a development secret key in %s", problem, key_file)
    return fresh
