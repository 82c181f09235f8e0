"""Account administration on both databases: role changes, disabling, the last admin."""

from __future__ import annotations

import uuid

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from devspark.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from devspark.services.accounts import Role, TokenService, register
from devspark.services.user_admin import find_user, update_user
from devspark.store.models import RefreshTokenRow, UserRow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _user(session: Session, name: str, role: Role = Role.USER) -> UserRow:
    user = register(session, name, "correct horse battery", role=role, hasher=CHEAP)
    session.commit()
    return user


def test_role_change_reports_what_changed(session: Session) -> None:
    ada = _user(session, "ada")
    change = update_user(session, ada.id, role="agent")
    assert change.changes == {"role": ["user", "agent"]} and ada.role == "agent"
    assert update_user(session, ada.id, role=Role.AGENT).changes == {}  # already so
    assert change.detail()["username"] == "ada"


def test_refusals_name_the_problem(session: Session) -> None:
    _user(session, "root", Role.ADMIN)
    with pytest.raises(InvalidArgumentError, match="did you mean 'viewer'"):
        update_user(session, uuid.uuid4(), role="veiwer")
    with pytest.raises(InvalidArgumentError, match="at least one of role, disabled"):
        update_user(session, uuid.uuid4())
    with pytest.raises(NotFoundError, match="does not exist"):
        update_user(session, uuid.uuid4(), disabled=True)
    with pytest.raises(NotFoundError, match="did you mean 'root'"):
        find_user(session, "rooot")


def test_disabling_revokes_every_login_of_the_account(session: Session) -> None:
    ada, bob = _user(session, "ada"), _user(session, "bob")
    tokens = TokenService("k" * 40)
    for user in (ada, ada, bob):
        tokens.start_login(session, user)
    session.commit()
    change = update_user(session, ada.id, disabled=True)
    session.commit()
    assert change.revoked_tokens == 2 and ada.disabled
    revoked = session.scalars(
        select(RefreshTokenRow.user_id).where(RefreshTokenRow.revoked_at.is_not(None))
    ).all()
    assert revoked == [ada.id, ada.id]


def test_the_last_active_admin_stays(session: Session) -> None:
    root = _user(session, "root", Role.ADMIN)
    other = _user(session, "other", Role.ADMIN)
    update_user(session, other.id, disabled=True)  # a disabled admin does not count
    session.commit()
    for fields in ({"role": Role.USER}, {"disabled": True}):
        with pytest.raises(ConflictError, match="'root' is the last active admin"):
            update_user(session, root.id, **fields)
    session.rollback()
    assert update_user(session, other.id, disabled=False).changes == {"disabled": [True, False]}
    assert update_user(session, root.id, role=Role.USER).changes == {"role": ["admin", "user"]}


# Row locks are PostgreSQL's (SQLite has one writer at a time): this runs there only.
@pytest.mark.integration
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_concurrent_demotions_cannot_both_pass(migrated: Engine) -> None:
    with Session(migrated) as setup:
        first, second = (_user(setup, n, Role.ADMIN).id for n in ("root", "toor"))
    with Session(migrated) as holder, Session(migrated) as other:
        update_user(holder, first, role=Role.USER)  # holds the admins' row locks
        # While the first demotion is open, the second cannot even read the admins it
        # would count: it waits on their locks (here it gives up after 200 ms)...
        other.execute(text("SET LOCAL lock_timeout = '200ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            update_user(other, second, role=Role.USER)
        other.rollback()
        holder.commit()
        # ...and once the first is committed, it counts one admin left: itself.
        with pytest.raises(ConflictError, match="last active admin"):
            update_user(other, second, role=Role.USER)
    with Session(migrated) as check:
        assert check.scalars(select(UserRow.role).order_by(UserRow.username)).all() == [
            "user",
            "admin",
        ]
