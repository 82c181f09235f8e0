"""``devspark users``: set-role, disable, enable and list on the server's database, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from devspark.cli.app import app, exit_code_for
from devspark.core.errors import (
    ConflictError,
    DevSparkError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from devspark.services import accounts
from devspark.services.accounts import Role, TokenService
from devspark.store.db import make_engine, session_factory, upgrade
from devspark.store.models import AuditLogRow, RefreshTokenRow, UserRow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
runner = CliRunner()


def _user(session: Session, name: str, role: Role = Role.USER) -> UserRow:
    user = accounts.register(session, name, "correct horse battery", role=role, hasher=CHEAP)
    session.commit()
    return user


def _run(db_url: str, *args: str) -> str:
    result = runner.invoke(app, ["users", *args, "--database-url", db_url])
    assert result.exit_code == 0, result.output
    return result.output


def _fails(db_url: str, *args: str) -> DevSparkError:
    result = runner.invoke(app, ["users", *args, "--database-url", db_url], standalone_mode=False)
    assert isinstance(result.exception, DevSparkError), result.output
    return result.exception


def test_set_role_changes_the_role_and_audits_it(session: Session, db_url: str) -> None:
    _user(session, "root", Role.ADMIN)
    ada = _user(session, "ada")
    assert "ada: role user -> admin" in _run(db_url, "set-role", "ADA", "admin")
    session.expire_all()
    assert session.get(UserRow, ada.id).role == "admin"  # type: ignore[union-attr]
    entry = session.scalars(select(AuditLogRow).where(AuditLogRow.action == "user.update")).one()
    assert (entry.actor_id, entry.actor_kind, entry.target_id) == (None, "system", str(ada.id))
    assert entry.detail["role"] == ["user", "admin"] and entry.detail["via"] == "cli"


def test_set_role_refuses_unknown_roles_users_and_the_last_admin(
    session: Session, db_url: str
) -> None:
    _user(session, "root", Role.ADMIN)
    bad_role = _fails(db_url, "set-role", "root", "admn")
    assert isinstance(bad_role, InvalidArgumentError) and "did you mean 'admin'" in str(bad_role)
    assert exit_code_for(bad_role) == 2
    missing = _fails(db_url, "set-role", "rot", "user")
    assert isinstance(missing, NotFoundError) and "did you mean 'root'" in str(missing)
    last = _fails(db_url, "set-role", "root", "user")
    assert isinstance(last, ConflictError) and "last active admin" in str(last)
    assert exit_code_for(last) == 6
    session.expire_all()
    assert session.scalars(select(UserRow.role)).all() == ["admin"]
    assert session.scalars(select(AuditLogRow)).all() == []


def test_disable_revokes_tokens_and_enable_restores_login(session: Session, db_url: str) -> None:
    ada = _user(session, "ada")
    TokenService("k" * 40).start_login(session, ada)
    session.commit()
    output = _run(db_url, "disable", "ada")
    assert "ada: disabled False -> True" in output and "1 refresh token(s) revoked" in output
    session.expire_all()
    assert session.scalars(select(RefreshTokenRow.revoked_at)).one() is not None
    with pytest.raises(PermissionDeniedError, match="disabled"):
        accounts.authenticate(session, "ada", "correct horse battery", hasher=CHEAP)
    assert "ada: disabled True -> False" in _run(db_url, "enable", "ada")
    session.expire_all()
    assert accounts.authenticate(session, "ada", "correct horse battery", hasher=CHEAP)
    listed = _run(db_url, "list")
    assert listed.splitlines() == ["ada\tuser\tactive"]


def test_data_dir_reaches_the_sqlite_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVSPARK_DATABASE_URL", raising=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'devspark.db'}")
    try:
        upgrade(engine)
        with session_factory(engine)() as session:
            _user(session, "ada")
    finally:
        engine.dispose()
    result = runner.invoke(app, ["users", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["ada\tuser\tactive"]


def test_a_data_dir_without_a_database_is_refused_naming_the_path_and_nothing_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVSPARK_DATABASE_URL", raising=False)
    missing = tmp_path / "typo"
    result = runner.invoke(
        app,
        ["users", "set-role", "ada", "admin", "--data-dir", str(missing)],
        standalone_mode=False,
    )
    assert isinstance(result.exception, NotFoundError), result.output
    assert f"no server database at {missing / 'devspark.db'}" in str(result.exception)
    assert "--data-dir" in str(result.exception)
    assert not missing.exists()
