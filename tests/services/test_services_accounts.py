"""Accounts on both databases: passwords, roles, JWT and refresh tokens, API keys."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from devspark.core.errors import (
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from devspark.services.accounts import (
    SECRET_KEY_ENV,
    Action,
    Role,
    TokenService,
    authenticate,
    authenticate_api_key,
    can,
    create_api_key,
    has_scope,
    parse_role,
    register,
    require_scope,
    revoke_api_key,
    revoke_user_tokens,
    secret_key,
)
from devspark.store.models import ApiKeyRow, RefreshTokenRow, UserRow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
SECRET = "s" * 40
PASSWORD = "correct horse battery"


def _register(session: Session, name: str = "ada", role: Role = Role.USER) -> UserRow:
    user = register(session, name, PASSWORD, f"{name}@example.org", role, hasher=CHEAP)
    session.commit()
    return user


# ------------------------------------------------------------------------ RBAC matrix

OWNER, OTHER = uuid.uuid4(), uuid.uuid4()
EXPECTED = {
    # role: (allowed whatever the owner, allowed only on own resources)
    Role.VIEWER: ({Action.READ}, set()),
    Role.USER: ({Action.READ, Action.CREATE}, {Action.UPDATE, Action.DELETE}),
    Role.AGENT: ({Action.READ, Action.EXECUTE}, set()),
    Role.ADMIN: (set(Action), set()),
}
OWNERSHIP = {"own": OWNER, "other": OTHER, "unowned": None}


@pytest.mark.parametrize("ownership", OWNERSHIP)
@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_rbac_matrix(role: Role, action: Action, ownership: str) -> None:
    always, own_only = EXPECTED[role]
    expected = action in always or (action in own_only and ownership == "own")
    assert can(role, action, owner_id=OWNERSHIP[ownership], actor_id=OWNER) is expected
    assert can(role.value, action.value, owner_id=OWNERSHIP[ownership], actor_id=OWNER) is expected


def test_can_rejects_unknown_role_and_action() -> None:
    with pytest.raises(InvalidArgumentError, match=r"role must be one of .*'root'"):
        can("root", Action.READ)
    with pytest.raises(InvalidArgumentError, match=r"action must be one of .*'launch'"):
        can(Role.USER, "launch")


def test_user_without_actor_id_cannot_update_even_matching_none() -> None:
    assert not can(Role.USER, Action.UPDATE, owner_id=None, actor_id=None)
    assert not can(Role.USER, Action.DELETE, owner_id=OWNER, actor_id=None)


# -------------------------------------------------------------------------- passwords


def test_register_and_login(session: Session) -> None:
    user = _register(session, "Ada")
    assert user.username == "ada"
    assert user.role == "user"
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert authenticate(session, "ADA", PASSWORD, hasher=CHEAP).id == user.id


def test_wrong_password_and_unknown_user_fail_alike(session: Session) -> None:
    _register(session)
    with pytest.raises(PermissionDeniedError, match=r"^invalid username or password$"):
        authenticate(session, "ada", "wrong password", hasher=CHEAP)
    with pytest.raises(PermissionDeniedError, match=r"^invalid username or password$"):
        authenticate(session, "nobody", PASSWORD, hasher=CHEAP)


def test_user_without_password_cannot_log_in(session: Session) -> None:
    session.add(UserRow(username="robot", role="agent"))
    session.commit()
    with pytest.raises(PermissionDeniedError, match=r"^invalid username or password$"):
        authenticate(session, "robot", PASSWORD, hasher=CHEAP)


def test_duplicate_username_conflicts(session: Session) -> None:
    _register(session)
    with pytest.raises(ConflictError, match="username 'ada' is already taken"):
        register(session, "ADA", "another password", hasher=CHEAP)


@pytest.mark.parametrize(
    ("username", "password", "email", "match"),
    [
        ("ab", PASSWORD, None, "username must be 3-64 .*'ab'"),
        ("-ada", PASSWORD, None, "username must be .*'-ada'"),
        ("ada lovelace", PASSWORD, None, "username must be .*'ada lovelace'"),
        ("a" * 65, PASSWORD, None, "username must be 3-64"),
        ("ada", "short", None, "password must be at least 8 characters, got 5"),
        ("ada", "x" * 2000, None, "password must be at most 1024 characters, got 2000"),
        ("ada", PASSWORD, "not-an-email", "email must look like name@host, got 'not-an-email'"),
    ],
)
def test_register_validates(
    session: Session, username: str, password: str, email: str | None, match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        register(session, username, password, email, hasher=CHEAP)


def test_register_rejects_unknown_role(session: Session) -> None:
    with pytest.raises(InvalidArgumentError, match=r"role must be one of .*'owner'"):
        register(session, "ada", PASSWORD, role="owner", hasher=CHEAP)


def test_disabled_user_is_refused(session: Session) -> None:
    user = _register(session)
    user.disabled = True
    session.commit()
    with pytest.raises(PermissionDeniedError, match="account 'ada' is disabled"):
        authenticate(session, "ada", PASSWORD, hasher=CHEAP)


def test_password_rehashed_when_parameters_change(session: Session) -> None:
    user = _register(session)
    old = user.password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=8 * 1024, parallelism=1)
    authenticate(session, "ada", PASSWORD, hasher=stronger)
    session.commit()
    stored = session.scalar(select(UserRow.password_hash).where(UserRow.id == user.id))
    assert stored is not None and stored != old and "t=2" in stored
    assert not stronger.check_needs_rehash(stored)
    assert authenticate(session, "ada", PASSWORD, hasher=stronger).id == user.id


def test_password_not_rehashed_when_parameters_match(session: Session) -> None:
    user = _register(session)
    old = user.password_hash
    authenticate(session, "ada", PASSWORD, hasher=CHEAP)
    assert user.password_hash == old


# ----------------------------------------------------------------------- access tokens


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_access_token_round_trip(session: Session) -> None:
    user = _register(session, role=Role.AGENT)
    tokens = TokenService(SECRET)
    claims = tokens.verify_access(tokens.issue_access(user))
    assert claims.user_id == user.id
    assert claims.role is Role.AGENT
    assert claims.expires_at - claims.issued_at == timedelta(minutes=15)
    other = tokens.verify_access(tokens.issue_access(user))
    assert other.jti != claims.jti


def test_expired_access_token_is_refused(session: Session) -> None:
    user = _register(session)
    clock = FakeClock()
    clock.now -= timedelta(minutes=16)
    token = TokenService(SECRET, clock=clock).issue_access(user)
    with pytest.raises(PermissionDeniedError, match="access token has expired"):
        TokenService(SECRET).verify_access(token)


def test_tampered_access_token_is_refused(session: Session) -> None:
    user = _register(session)
    tokens = TokenService(SECRET)
    header, payload, signature = tokens.issue_access(user).split(".")
    forged = jwt.encode(
        {**jwt.decode(f"{header}.{payload}.{signature}", options={"verify_signature": False})}
        | {"role": "admin"},
        "x" * 40,
        algorithm="HS256",
    )
    with pytest.raises(PermissionDeniedError, match="access token is invalid: Signature"):
        tokens.verify_access(forged)
    spliced = f"{header}.{forged.split('.')[1]}.{signature}"
    with pytest.raises(PermissionDeniedError, match="access token is invalid"):
        tokens.verify_access(spliced)
    with pytest.raises(PermissionDeniedError, match="access token is invalid"):
        tokens.verify_access("not-a-jwt")


def test_access_token_from_other_issuer_or_alg_none_is_refused(session: Session) -> None:
    user = _register(session)
    other = TokenService(SECRET, issuer="elsewhere").issue_access(user)
    with pytest.raises(PermissionDeniedError, match="access token is invalid: Invalid issuer"):
        TokenService(SECRET).verify_access(other)
    unsigned = jwt.encode(
        {"sub": str(user.id), "role": "admin", "iss": "devspark"}, None, algorithm="none"
    )
    with pytest.raises(PermissionDeniedError, match="access token is invalid"):
        TokenService(SECRET).verify_access(unsigned)


def test_token_service_validates_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="secret must be at least 32 characters, got 5"):
        TokenService("short")
    with pytest.raises(InvalidArgumentError, match="access_ttl must be positive"):
        TokenService(SECRET, access_ttl=timedelta(0))


# ---------------------------------------------------------------------- refresh tokens


def test_refresh_token_is_stored_hashed(session: Session) -> None:
    user = _register(session)
    token = TokenService(SECRET).issue_refresh(session, user)
    session.commit()
    row = session.scalars(select(RefreshTokenRow)).one()
    assert row.token_hash != token and token not in row.token_hash
    assert row.expires_at - row.issued_at == timedelta(days=14)


def test_refresh_rotation_keeps_family(session: Session) -> None:
    user = _register(session)
    tokens = TokenService(SECRET)
    first = tokens.issue_refresh(session, user)
    session.commit()
    pair = tokens.rotate_refresh(session, first)
    session.commit()
    assert tokens.verify_access(pair.access).user_id == user.id
    rows = session.scalars(select(RefreshTokenRow).order_by(RefreshTokenRow.issued_at)).all()
    assert len(rows) == 2 and rows[0].family_id == rows[1].family_id
    assert rows[0].used_at is not None and rows[1].used_at is None
    third = tokens.rotate_refresh(session, pair.refresh)
    session.commit()
    assert third.refresh != pair.refresh


def test_reused_refresh_token_revokes_family(session: Session) -> None:
    user = _register(session)
    tokens = TokenService(SECRET)
    stolen = tokens.issue_refresh(session, user)
    other_login = tokens.issue_refresh(session, user)
    session.commit()
    newer = tokens.rotate_refresh(session, stolen).refresh
    session.commit()
    with pytest.raises(PermissionDeniedError, match="already used; every token of its family"):
        tokens.rotate_refresh(session, stolen)
    session.rollback()  # what a caller does on error: the revocation was committed anyway
    with pytest.raises(PermissionDeniedError, match="refresh token has been revoked"):
        tokens.rotate_refresh(session, newer)
    with pytest.raises(PermissionDeniedError, match="refresh token has been revoked"):
        tokens.rotate_refresh(session, stolen)
    assert tokens.rotate_refresh(session, other_login).refresh  # another family lives on


def test_refresh_unknown_expired_and_logout(session: Session) -> None:
    user = _register(session)
    clock = FakeClock()
    tokens = TokenService(SECRET, refresh_ttl=timedelta(hours=1), clock=clock)
    with pytest.raises(PermissionDeniedError, match="refresh token is not recognised"):
        tokens.rotate_refresh(session, "made-up")
    old = tokens.issue_refresh(session, user)
    clock.now += timedelta(hours=2)
    with pytest.raises(PermissionDeniedError, match="refresh token has expired"):
        tokens.rotate_refresh(session, old)
    live = tokens.issue_refresh(session, user)
    family = session.scalars(
        select(RefreshTokenRow.family_id).where(
            RefreshTokenRow.token_hash == hashlib.sha256(live.encode()).hexdigest()
        )
    ).one()
    revoked = tokens.revoke_family(session, family)
    session.commit()
    assert revoked == 1
    assert tokens.revoke_family(session, family) == 0
    with pytest.raises(PermissionDeniedError, match="refresh token has been revoked"):
        tokens.rotate_refresh(session, live)


def test_refresh_refused_for_disabled_user(session: Session) -> None:
    user = _register(session)
    tokens = TokenService(SECRET)
    token = tokens.issue_refresh(session, user)
    user.disabled = True
    session.commit()
    with pytest.raises(PermissionDeniedError, match="account is disabled"):
        tokens.rotate_refresh(session, token)


# --------------------------------------------------------------------------- API keys


def _dump(session: Session) -> str:
    """Every column of every API key, user and refresh token row, as one string."""
    tables = ("api_keys", "users", "refresh_tokens", "audit_log")
    return repr([session.execute(text(f"SELECT * FROM {name}")).all() for name in tables])  # noqa: S608


def test_api_key_shown_once_and_hashed_at_rest(session: Session) -> None:
    user = _register(session)
    created = create_api_key(session, user, "ci", ["agents:read", "matches:*"])
    session.commit()
    assert created.secret.startswith(f"dsk_{created.row.prefix}_")
    secret_part = created.secret.rsplit("_", 1)[1]
    assert len(secret_part) == 64
    dump = _dump(session)
    assert created.row.prefix in dump
    assert secret_part not in dump and created.secret not in dump
    identity = authenticate_api_key(session, created.secret)
    session.commit()
    assert identity.user.id == user.id and identity.key.id == created.row.id
    assert identity.key.last_used_at is not None


@pytest.mark.parametrize("presented", ["", "dsk_", "nonsense", "dsk_zz_zz"])
def test_malformed_api_key_is_refused(session: Session, presented: str) -> None:
    with pytest.raises(PermissionDeniedError, match="API key is not recognised"):
        authenticate_api_key(session, presented)


def test_wrong_secret_with_real_prefix_is_refused(session: Session) -> None:
    user = _register(session)
    created = create_api_key(session, user, "ci", ["*"])
    forged = created.secret[:-64] + "0" * 64
    with pytest.raises(PermissionDeniedError, match="API key is not recognised"):
        authenticate_api_key(session, forged)


def test_api_key_scopes(session: Session) -> None:
    user = _register(session)
    key = create_api_key(session, user, "ci", ["agents:read", "matches:*", "agents:read"]).row
    assert key.scopes == ["agents:read", "matches:*"]
    assert has_scope(key, "agents:read")
    assert not has_scope(key, "agents:write")
    assert has_scope(key, "matches:submit")
    require_scope(key, "matches:read")
    with pytest.raises(PermissionDeniedError, match="lacks scope 'tournaments:write'"):
        require_scope(key, "tournaments:write")
    everything = create_api_key(session, user, "all", ["*"]).row
    assert has_scope(everything, "tournaments:write")
    with pytest.raises(InvalidArgumentError, match=r"scope must be .*'Agents:Read'"):
        create_api_key(session, user, "bad", ["Agents:Read"])
    with pytest.raises(InvalidArgumentError, match="name must be 1-128 characters"):
        create_api_key(session, user, " ", [])


def test_revoke_api_key_owner_other_admin(session: Session) -> None:
    owner = _register(session, "owner")
    other = _register(session, "other")
    admin = _register(session, "boss", Role.ADMIN)
    first = create_api_key(session, owner, "one", ["*"])
    second = create_api_key(session, owner, "two", ["*"])
    session.commit()

    with pytest.raises(PermissionDeniedError, match="'other' may not revoke API key"):
        revoke_api_key(session, first.row.id, other)
    assert authenticate_api_key(session, first.secret).user.id == owner.id

    revoked = revoke_api_key(session, first.row.id, owner)
    session.commit()
    assert revoked.revoked_at is not None
    with pytest.raises(PermissionDeniedError, match="has been revoked"):
        authenticate_api_key(session, first.secret)
    again = revoke_api_key(session, first.row.id, owner)
    assert again.revoked_at == revoked.revoked_at

    revoke_api_key(session, second.row.id, admin)
    session.commit()
    with pytest.raises(PermissionDeniedError, match="has been revoked"):
        authenticate_api_key(session, second.secret)
    with pytest.raises(NotFoundError, match="does not exist"):
        revoke_api_key(session, uuid.uuid4(), admin)


def test_api_key_of_disabled_user_is_refused(session: Session) -> None:
    user = _register(session)
    created = create_api_key(session, user, "ci", ["*"])
    user.disabled = True
    session.commit()
    with pytest.raises(PermissionDeniedError, match="account is disabled"):
        authenticate_api_key(session, created.secret)
    with pytest.raises(PermissionDeniedError, match="account 'ada' is disabled"):
        create_api_key(session, user, "more", ["*"])
    assert session.scalars(select(ApiKeyRow)).all() == [created.row]


# ------------------------------------------------------------------------- secret key


def test_secret_key_required_outside_dev_mode() -> None:
    with pytest.raises(FailedPreconditionError, match=f"{SECRET_KEY_ENV} is not set"):
        secret_key(False, environ={})
    with pytest.raises(FailedPreconditionError, match=f"{SECRET_KEY_ENV} must be at least 32"):
        secret_key(False, environ={SECRET_KEY_ENV: "short"})
    assert secret_key(False, environ={SECRET_KEY_ENV: SECRET}) == SECRET
    assert secret_key(True, environ={SECRET_KEY_ENV: SECRET}) == SECRET


def test_secret_key_ephemeral_in_dev_mode(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="devspark.services.accounts"):
        first = secret_key(True, environ={})
        second = secret_key(True, environ={})
    assert first != second and len(first) >= 32
    assert "ephemeral secret key" in caplog.text and SECRET_KEY_ENV in caplog.text
    TokenService(first)  # long enough to sign with


def test_secret_key_kept_in_a_private_file_in_dev_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "data" / "dev-secret-key"
    with caplog.at_level(logging.WARNING, logger="devspark.services.accounts"):
        first = secret_key(True, environ={}, key_file=key_file)
        second = secret_key(True, environ={}, key_file=key_file)
    assert first == second and len(first) >= 32  # logins survive a restart
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "generated a development secret key" in caplog.text
    assert secret_key(True, environ={SECRET_KEY_ENV: SECRET}, key_file=key_file) == SECRET
    key_file.write_text("short\n")  # too short to trust: replaced
    assert len(secret_key(True, environ={}, key_file=key_file)) >= 32
    with pytest.raises(FailedPreconditionError):  # never outside development mode
        secret_key(False, environ={}, key_file=key_file)


def test_secret_key_reads_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_KEY_ENV, SECRET)
    assert secret_key(False) == SECRET
    monkeypatch.delenv(SECRET_KEY_ENV)
    with pytest.raises(FailedPreconditionError, match=SECRET_KEY_ENV):
        secret_key(False)


# ------------------------------------------------- NUL characters, revoked logins


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("email", lambda s: register(s, "ada", PASSWORD, "a\x00@example.org", hasher=CHEAP)),
        ("username", lambda s: authenticate(s, "ad\x00a", PASSWORD, hasher=CHEAP)),
        ("name", lambda s: create_api_key(s, _register(s, "bob"), "c\x00i", ["*"])),
    ],
)
def test_nul_characters_are_refused_before_the_database(
    session: Session, field: str, call: Callable[[Session], object]
) -> None:
    # On PostgreSQL a NUL reaching the driver is a psycopg.DataError (a 500 on the API).
    with pytest.raises(InvalidArgumentError, match=f"{field} must not contain NUL characters"):
        call(session)
    session.rollback()
    assert session.scalars(select(ApiKeyRow)).all() == []


def test_unknown_role_suggests_the_nearest(session: Session) -> None:
    with pytest.raises(InvalidArgumentError, match="did you mean 'admin'"):
        parse_role("admn")
    assert parse_role("viewer") is Role.VIEWER


def test_access_tokens_die_with_their_family(session: Session) -> None:
    user = _register(session)
    tokens = TokenService(SECRET)
    first = tokens.start_login(session, user)
    other = tokens.start_login(session, user)
    session.commit()
    claims = tokens.check_access(session, first.access)
    assert claims.user_id == user.id and claims.family_id is not None
    assert tokens.revoke_family(session, claims.family_id) == 1
    session.commit()
    with pytest.raises(PermissionDeniedError, match="access token has been revoked"):
        tokens.check_access(session, first.access)
    assert tokens.check_access(session, other.access).user_id == user.id
    assert revoke_user_tokens(session, user.id) == 1
    session.commit()
    with pytest.raises(PermissionDeniedError, match="access token has been revoked"):
        tokens.check_access(session, other.access)
