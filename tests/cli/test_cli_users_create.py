"""``devspark users create``: accounts (and API keys) from the command line, audited."""

from __future__ import annotations

import json
import sys

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from devspark.cli import main
from devspark.cli.app import app, exit_code_for
from devspark.core.errors import ConflictError, DevSparkError, InvalidArgumentError
from devspark.services import accounts
from devspark.services.accounts import Role, role_scopes
from devspark.store.models import ApiKeyRow, AuditLogRow, UserRow

runner = CliRunner()


def _create(db_url: str, *args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, ["users", "create", *args, "--database-url", db_url], input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def _fails(db_url: str, *args: str) -> DevSparkError:
    result = runner.invoke(
        app, ["users", "create", *args, "--database-url", db_url], standalone_mode=False
    )
    assert isinstance(result.exception, DevSparkError), result.output
    return result.exception


def _user(session: Session, name: str) -> UserRow:
    session.expire_all()
    return session.scalars(select(UserRow).where(UserRow.username == name)).one()


def test_create_generates_a_password_prints_it_once_and_audits(
    session: Session, db_url: str
) -> None:
    output = _create(db_url, "Ada", "--role", "agent")
    lines = output.splitlines()
    assert lines[0].startswith("ada: created with role agent (id ")
    password = next(line for line in lines if line.startswith("password: ")).split()[1]
    assert len(password) >= 32
    assert not any(line.startswith("API key") for line in lines)
    ada = _user(session, "ada")
    assert ada.role == "agent" and not ada.disabled
    assert accounts.authenticate(session, "ada", password).id == ada.id
    entry = session.scalars(select(AuditLogRow)).one()
    assert (entry.action, entry.actor_id, entry.actor_kind) == ("user.create", None, "system")
    assert entry.target_id == str(ada.id)
    assert entry.detail == {"username": "ada", "role": "agent", "via": "cli"}


def test_json_with_api_key_prints_one_object_and_the_key_authenticates(
    session: Session, db_url: str
) -> None:
    printed = json.loads(_create(db_url, "ci-bot", "--role", "user", "--api-key", "--json"))
    assert set(printed) == {"user", "api_key", "password"}  # password: it was generated
    bot = _user(session, "ci-bot")
    assert printed["user"] == {"id": str(bot.id), "username": "ci-bot", "role": "user"}
    identity = accounts.authenticate_api_key(session, printed["api_key"])
    assert identity.user.id == bot.id
    assert identity.key.scopes == role_scopes(Role.USER)
    assert accounts.has_scope(identity.key, "agents:write")
    assert not accounts.has_scope(identity.key, "users:write")  # an admin's scope
    assert accounts.authenticate(session, "ci-bot", printed["password"]).id == bot.id
    actions = session.scalars(select(AuditLogRow.action).order_by(AuditLogRow.action)).all()
    assert actions == ["api_key.create", "user.create"]


def test_password_stdin_is_used_and_json_then_holds_no_password(
    session: Session, db_url: str
) -> None:
    printed = json.loads(
        _create(
            db_url, "grace", "--role", "admin", "--password-stdin", "--json", stdin="s3cret pass\n"
        )
    )
    assert printed == {
        "user": {"id": str(_user(session, "grace").id), "username": "grace", "role": "admin"},
        "api_key": None,
    }
    assert accounts.authenticate(session, "grace", "s3cret pass").role == "admin"
    assert session.scalars(select(ApiKeyRow)).all() == []


def test_a_short_password_on_stdin_is_refused_and_nothing_is_created(
    session: Session, db_url: str
) -> None:
    result = runner.invoke(
        app,
        ["users", "create", "ada", "--role", "user", "--password-stdin", "--database-url", db_url],
        input="short\n",
        standalone_mode=False,
    )
    assert isinstance(result.exception, InvalidArgumentError)
    assert "at least 8 characters" in str(result.exception)
    assert session.scalars(select(UserRow)).all() == []


def test_a_taken_name_exits_non_zero_with_a_clear_message(
    session: Session,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _create(db_url, "ada", "--role", "user")
    taken = _fails(db_url, "ADA", "--role", "admin", "--api-key")
    assert isinstance(taken, ConflictError) and "'ada' is already taken" in str(taken)
    assert exit_code_for(taken) == 6
    # Through the real entry point: one line on stderr, no traceback.
    argv = ["devspark", "users", "create", "ada", "--role", "user", "--database-url", db_url]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 6
    err = capsys.readouterr().err
    assert err == "error: username 'ada' is already taken\n"
    session.expire_all()
    assert session.scalars(select(UserRow.role)).all() == ["user"]
    assert session.scalars(select(ApiKeyRow)).all() == []


def test_an_unknown_role_lists_the_roles_and_suggests_one(session: Session, db_url: str) -> None:
    bad = _fails(db_url, "ada", "--role", "admn")
    assert isinstance(bad, InvalidArgumentError)
    assert "viewer, user, agent, admin" in str(bad) and "did you mean 'admin'" in str(bad)
    assert exit_code_for(bad) == 2
    assert session.scalars(select(UserRow)).all() == []
