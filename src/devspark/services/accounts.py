"""Accounts: roles and permissions, passwords, access and refresh tokens, API keys.

Roles live in :mod:`devspark.services.roles` and tokens in
:mod:`devspark.services.tokens`; this module re-exports their names, so callers import
everything about accounts from here.

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

import hmac
import logging
import os
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
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
from devspark.services.roles import (
    KEY_SCOPES,
    Action,
    Role,
    can,
    check_text,
    enum_value,
    parse_role,
    role_scopes,
)
from devspark.services.tokens import (
    MIN_SECRET_LENGTH,
    Claims,
    TokenPair,
    TokenService,
    family_revoked,
    revoke_user_tokens,
    sha256_hex,
)
from devspark.store.models import ApiKeyRow, UserRow, utcnow

__all__ = [
    "API_KEY_PREFIX",
    "DEFAULT_HASHER",
    "KEY_SCOPES",
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
    "role_scopes",
    "secret_key",
]

logger = logging.getLogger(__name__)

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
    role = enum_value(Role, role, "role")
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


# ------------------------------------------------------------------------ API keys

API_KEY_PREFIX = "dsk"
SCOPE_PATTERN = r"\*|[a-z][a-z_]*:(\*|[a-z][a-z_]*)"
"""What an API key scope looks like: ``*``, ``resource:*`` or ``resource:verb``."""
_SCOPE = re.compile(SCOPE_PATTERN)
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
        key_hash=sha256_hex(secret),
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
    prefix, digest = match.group(1), sha256_hex(match.group(2))
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
    if len(value) >= MIN_SECRET_LENGTH:
        return value
    if value:
        problem = (
            f"{SECRET_KEY_ENV} must be at least {MIN_SECRET_LENGTH} characters, got {len(value)}"
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
    if len(stored) >= MIN_SECRET_LENGTH:
        logger.warning("%s; using the development secret key in %s", problem, key_file)
        return stored
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_urlsafe(48)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(fresh + "\n")
    logger.warning("%s; generated a development secret key in %s", problem, key_file)
    return fresh
