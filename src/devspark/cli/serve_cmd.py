"""``devspark serve``: run the API server with uvicorn.

The port is bound before anything else happens: on a busy port the command fails with a
clear message before the database is migrated or seeded, so the one-time admin password
is never printed for a server that does not start.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from devspark.server.settings import DEFAULT_HOST, DEFAULT_PORT, Settings


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind a TCP socket on ``host:port`` the way uvicorn would (``SO_REUSEADDR``).

    Args:
        host: Interface (an IPv6 address when it contains ``:``).
        port: TCP port.

    Returns:
        The bound socket, for ``uvicorn.Server.run(sockets=[...])``.

    Raises:
        typer.Exit: The address cannot be bound (code 1; the reason is printed).

    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        typer.echo(
            f"error: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another server running there? pick another --port); nothing was started "
            "and the database was not touched",
            err=True,
        )
        raise typer.Exit(1) from exc
    return sock


WS_MAX_FRAME_BYTES = 64 << 10
"""The largest WebSocket message uvicorn reads (its default, 16 MiB, was buffered whole).

Four bytes a character over the live socket's 4,096-character message limit, with room
to spare: a message the app can still answer with an error reaches it; a larger one is
closed with 1009 by the protocol before it is buffered.
"""


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Where uvicorn listens, whose ``X-Forwarded-*`` headers it believes, frame size.

    Forwarded headers are read only from ``settings.trusted_proxies``; with none
    configured (the default) they are ignored, so no client (not even one on
    127.0.0.1, which uvicorn trusts by default) can choose the IP the rate limiter sees.
    WebSocket messages are capped at :data:`WS_MAX_FRAME_BYTES`.
    """
    return {
        "host": settings.host,
        "port": settings.port,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
        "ws_max_size": WS_MAX_FRAME_BYTES,
    }


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = DEFAULT_HOST,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="TCP port to bind.")
    ] = DEFAULT_PORT,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder for the SQLite database (default: $DEVSPARK_DATA_DIR or "
            "~/.local/share/devspark).",
        ),
    ] = None,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Serve the API only; `devspark worker` processes play the matches.",
        ),
    ] = False,
) -> None:
    """Run the DevSpark API server (migrates, and seeds an empty database, first).

    It embeds a worker that plays queued matches and tournaments, unless ``--no-worker``.
    """
    # Imported here so other commands do not pay for loading the web stack.
    import uvicorn

    from devspark.app import create_app
    from devspark.server.redaction import install_log_redaction
    from devspark.services.seed import seed_if_empty
    from devspark.store.db import make_engine, session_factory, upgrade

    settings = Settings.from_env(host=host, port=port, data_dir=data_dir)
    listener = bind_listener(settings.host, settings.port)  # before anything is seeded
    app = create_app(settings, worker=not no_worker)
    # Migrate and seed before the app starts: its worker then plays the seeded ladder.
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        with session_factory(engine)() as session:
            report = seed_if_empty(session)
    finally:
        engine.dispose()
    if report is not None:
        typer.echo(
            f"First start: seeded {len(report.scenarios)} scenarios and a running ladder "
            f"({', '.join(report.agents)})."
        )
        typer.echo(
            f"Admin login (shown once, store it now): username {report.username!r} "
            f"password {report.password!r}"
        )
    typer.echo(f"DevSpark server on {settings.url} (API docs: {settings.url}/docs)")
    if no_worker:
        typer.echo("API only (--no-worker): start `devspark worker` processes to play matches.")
    config = uvicorn.Config(app, log_level="info", **uvicorn_options(settings))
    install_log_redaction()  # after uvicorn configured its loggers: ?token= stays out
    with listener:
        uvicorn.Server(config).run(sockets=[listener])
