"""``devspark users``: create and list accounts, change a role, disable or enable an account.

These commands work on the server's database directly (the same one ``devspark serve``
uses: ``--database-url``, else ``$DEVSPARK_DATABASE_URL``, else SQLite in the data
folder), for the operator who holds it: there is no login. A SQLite file that is not
there is refused, naming the path, rather than created empty (a mistyped or forgotten
``--data-dir`` would otherwise answer "user does not exist"). Each change is written to
the audit log by the ``system`` actor (``user.create``, ``api_key.create``,
``user.update``, with ``"via": "cli"``), in the same transaction as the change.
Disabling an account revokes its tokens; the last active admin can be neither demoted
nor disabled.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from devspark.cli._database import DatabaseUrlOption, DataDirOption, server_database
from devspark.services import user_admin
from devspark.services.accounts import parse_role
from devspark.services.audit import SYSTEM
from devspark.store.db import session_factory

app = typer.Typer(
    help="Manage accounts: create, roles, disabling (operator).", no_args_is_help=True
)

_VIA_CLI = {"via": "cli"}


@contextmanager
def _session(data_dir: Path | None, database_url: str | None) -> Iterator[Session]:
    with (
        server_database(data_dir, database_url) as (_, engine),
        session_factory(engine)() as session,
    ):
        yield session


def _change(username: str, data_dir: Path | None, database_url: str | None, **fields: Any) -> None:
    with _session(data_dir, database_url) as session:
        user = user_admin.find_user(session, username)
        change = user_admin.change_user(session, user.id, audit=SYSTEM, detail=_VIA_CLI, **fields)
        if not change.changes:
            typer.echo(f"{user.username}: unchanged (role {user.role}, disabled {user.disabled})")
        for name, (before, after) in change.changes.items():
            typer.echo(f"{user.username}: {name} {before} -> {after}")
        if change.revoked_tokens:
            typer.echo(f"{user.username}: {change.revoked_tokens} refresh token(s) revoked")


@app.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument(help="The account's login name.")],
    role: Annotated[str, typer.Argument(help="viewer, user, agent or admin.")],
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Give an account another role (audited)."""
    _change(username, data_dir, database_url, role=parse_role(role))


@app.command("disable")
def disable(
    username: Annotated[str, typer.Argument(help="The account's login name.")],
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Disable an account and revoke its tokens (audited)."""
    _change(username, data_dir, database_url, disabled=True)


@app.command("enable")
def enable(
    username: Annotated[str, typer.Argument(help="The account's login name.")],
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Enable a disabled account again; it logs in anew (audited)."""
    _change(username, data_dir, database_url, disabled=False)


@app.command("list")
def list_users(data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None) -> None:
    """Every account: name, role, disabled, oldest first."""
    with _session(data_dir, database_url) as session:
        for row in user_admin.all_users(session):
            state = "disabled" if row.disabled else "active"
            typer.echo(f"{row.username}\t{row.role}\t{state}")


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="The new account's login name.")],
    role: Annotated[str, typer.Option("--role", help="viewer, user, agent or admin.")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from standard input (one line); otherwise a strong "
            "random one is generated and printed once.",
        ),
    ] = False,
    api_key: Annotated[
        bool,
        typer.Option("--api-key", help="Also create an API key with every scope of the role."),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print one JSON object: {"user": {id, username, role}, "api_key": ...} '
            '(plus "password" when one was generated).',
        ),
    ] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create an account, optionally with an API key (audited); secrets are shown once."""
    password = _read_password() if password_stdin else None
    with _session(data_dir, database_url) as session:
        made = user_admin.create_user(
            session,
            username,
            parse_role(role),
            password=password,
            api_key=api_key,
            audit=SYSTEM,
            detail=_VIA_CLI,
        )
        user = {"id": str(made.user.id), "username": made.user.username, "role": made.user.role}
        key = made.api_key.secret if made.api_key is not None else None
    if as_json:
        out: dict[str, Any] = {"user": user, "api_key": key}
        if made.password is not None:
            out["password"] = made.password
        typer.echo(json.dumps(out))
        return
    typer.echo(f"{user['username']}: created with role {user['role']} (id {user['id']})")
    if made.password is not None:
        typer.echo(f"password: {made.password}  (shown once: store it now)")
    if key is not None:
        typer.echo(f"API key: {key}  (shown once: store it now)")


def _read_password() -> str:
    """The first line of standard input, without its line ending."""
    line = typer.get_text_stream("stdin").readline()
    return line.rstrip("\r\n")
