"""Account and login use cases keep nothing when their audit entry cannot be written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from devspark.services import audit, logins, user_admin
from devspark.services.accounts import Role, TokenService, register, role_scopes
from devspark.services.audit import SYSTEM, AuditContext
from devspark.store.models import ApiKeyRow, AuditLogRow, RefreshTokenRow, UserRow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
TOKENS = TokenService("k" * 40)
REQUEST = AuditContext(actor=None, actor_kind="user", correlation_id="req-1")


class AuditDownError(RuntimeError):
    """The audit insert failed."""


def _raise(*args: Any, **kwargs: Any) -> None:
    raise AuditDownError("audit log unavailable")


@pytest.fixture
def audit_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "record", _raise)


def _user(session: Session, name: str, role: Role = Role.USER) -> UserRow:
    user = register(session, name, PASSWORD, role=role, hasher=CHEAP)
    session.commit()
    return user


def _fresh(migrated: Engine, read: Callable[[Session], Any]) -> Any:
    """What ``read`` finds in a new session (nothing pending in the old one is seen)."""
    with Session(migrated) as fresh:
        return read(fresh)


def _usernames(session: Session) -> list[str]:
    return list(session.scalars(select(UserRow.username).order_by(UserRow.username)))


def _keys(session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow)))


def _entries(session: Session) -> list[str]:
    return list(session.scalars(select(AuditLogRow.action)))


# --- what lands when the audit log works ----------------------------------------------


def test_each_use_case_commits_its_change_with_its_entry(
    session: Session, migrated: Engine
) -> None:
    made = user_admin.create_user(
        session, "ada", "admin", audit=SYSTEM, password=PASSWORD, api_key=True, hasher=CHEAP
    )
    assert made.password is None and made.api_key is not None
    assert made.api_key.row.scopes == role_scopes(Role.ADMIN)
    bob = user_admin.register_user(session, "bob", PASSWORD, None, audit=REQUEST, hasher=CHEAP)
    user_admin.change_user(session, bob.id, role=Role.AGENT, audit=SYSTEM)
    key = user_admin.create_api_key(session, bob, "ci", ["*"], audit=REQUEST)
    user_admin.revoke_api_key(session, key.row.id, bob, audit=REQUEST)
    pair = logins.log_in(session, TOKENS, "bob", PASSWORD, audit=REQUEST, hasher=CHEAP)
    assert logins.log_out(session, TOKENS, pair.refresh, audit=REQUEST) == 1
    assert _fresh(migrated, _entries) == [
        "user.create",
        "api_key.create",
        "user.register",
        "user.update",
        "api_key.create",
        "api_key.revoke",
        "auth.login",
        "auth.logout",
    ]
    register_entry = _fresh(
        migrated,
        lambda s: s.scalars(select(AuditLogRow).where(AuditLogRow.action == "user.register")).one(),
    )
    assert (register_entry.actor_id, register_entry.correlation_id) == (bob.id, "req-1")


# --- nothing lands when it does not --------------------------------------------------
# Each test also commits the use case's session after the failure: a use case that left
# its change pending (no rollback) would have it kept by the caller's next commit.


@pytest.mark.usefixtures("audit_fails")
def test_create_user_keeps_neither_the_account_nor_its_key(
    session: Session, migrated: Engine
) -> None:
    with pytest.raises(AuditDownError):
        user_admin.create_user(session, "ada", "user", audit=SYSTEM, api_key=True, hasher=CHEAP)
    session.commit()
    assert _fresh(migrated, _usernames) == []
    assert _fresh(migrated, _keys) == []


@pytest.mark.usefixtures("audit_fails")
def test_register_keeps_no_account(session: Session, migrated: Engine) -> None:
    with pytest.raises(AuditDownError):
        user_admin.register_user(session, "ada", PASSWORD, None, audit=REQUEST, hasher=CHEAP)
    session.commit()
    assert _fresh(migrated, _usernames) == []


def test_role_change_and_disabling_are_not_kept(
    session: Session, migrated: Engine, audit_fails: None
) -> None:
    ada = _user(session, "ada")
    TOKENS.start_login(session, ada)
    session.commit()
    for fields in ({"role": Role.ADMIN}, {"disabled": True}):
        with pytest.raises(AuditDownError):
            user_admin.change_user(session, ada.id, audit=SYSTEM, **fields)
    session.commit()
    stored = _fresh(migrated, lambda s: s.scalars(select(UserRow)).one())
    assert (stored.role, stored.disabled) == ("user", False)
    revoked = _fresh(migrated, lambda s: s.scalars(select(RefreshTokenRow.revoked_at)).one())
    assert revoked is None  # the disabling's token revocation went too


def test_api_key_creation_and_revocation_are_not_kept(
    session: Session, migrated: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = _user(session, "ada")
    kept = user_admin.create_api_key(session, ada, "kept", ["*"], audit=REQUEST)
    monkeypatch.setattr(audit, "record", _raise)
    with pytest.raises(AuditDownError):
        user_admin.create_api_key(session, ada, "lost", ["*"], audit=REQUEST)
    with pytest.raises(AuditDownError):
        user_admin.revoke_api_key(session, kept.row.id, ada, audit=REQUEST)
    session.commit()
    keys = _fresh(migrated, _keys)
    assert [(key.name, key.revoked_at) for key in keys] == [("kept", None)]


def test_login_and_logout_are_not_kept(
    session: Session, migrated: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _user(session, "ada")
    pair = logins.log_in(session, TOKENS, "ada", PASSWORD, audit=REQUEST, hasher=CHEAP)
    monkeypatch.setattr(audit, "record", _raise)
    with pytest.raises(AuditDownError):
        logins.log_in(session, TOKENS, "ada", PASSWORD, audit=REQUEST, hasher=CHEAP)
    with pytest.raises(AuditDownError):
        logins.log_out(session, TOKENS, pair.refresh, audit=REQUEST)
    session.commit()
    tokens = _fresh(migrated, lambda s: list(s.scalars(select(RefreshTokenRow.revoked_at))))
    assert tokens == [None]  # the first login's token, still live; the second login's gone
