"""``devspark users``: list accounts, change a role, disable or enable an account.

These commands work on the server's database directly (the same one ``devspark serve``
uses: ``--database-url``, else ``$DEVSPARK_DATABASE_URL``, else SQLite in the data
folder), for the operator who holds it: there is no login. A SQLite file that is not
there is refused, naming the path, rather than created empty (a mistyped or forgotten
``--data-dir`` would otherwise answer "user does not exist"). Each change is written to
the audit log as ``user.update`` by the ``system`` actor, in the same transaction.
Disabling an account revokes its tokens; the last active admin can be neither demoted
nor disabled.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from devspark.core.errors import NotFoundError
from devspark.server.settings import Settings
from devspark.services import audit, user_admin
from devspark.services.accounts import parse_role
from devspark.store.db import make_engine, session_factory, upgrade
from devspark.store.models import UserRow

app = typer.Typer(help="Manage accounts: roles, disabling (operator).", no_args_is_help=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder of the SQLite database (default: $DEVSPARK_DATA_DIR or "
        "~/.local/share/devspark).",
    ),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL of the server's database (default: $DEVSPARK_DATABASE_URL, "
        "else SQLite in the data folder).",
    ),
]


def _existing_sqlite(database_url: str) -> None:
    """Refuse a SQLite database that does not exist yet (it would be created empty).

    Raises:
        NotFoundError: The URL names a SQLite file that is not there.

    """
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database)
    if not path.is_file():
        raise NotFoundError(
            f"no server database at {path}: give --data-dir the folder `devspark serve "
            f"--data-dir` uses (`make run` uses .devspark-data), or --database-url"
        )


@contextmanager
def _session(data_dir: Path | None, database_url: str | None) -> Iterator[Session]:
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    _existing_sqlite(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _change(username: str, data_dir: Path | None, database_url: str | None, **fields: Any) -> None:
    with _session(data_dir, database_url) as session:
        user = user_admin.find_user(session, username)
        change = user_admin.update_user(session, user.id, **fields)
        audit.record(
            session,
            actor=None,
            actor_kind="system",
            action="user.update",
            target_type="user",
            target_id=str(user.id),
            correlation_id=None,
            detail={**change.detail(), "via": "cli"},
        )
        session.commit()
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
        rows = session.scalars(select(UserRow).order_by(UserRow.created_at, UserRow.username))
        for row in rows:
            state = "disabled" if row.disabled else "active"
            typer.echo(f"{row.username}\t{row.role}\t{state}")
