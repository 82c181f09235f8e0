"""``devspark serve``: run the API server with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devspark.server.settings import DEFAULT_HOST, DEFAULT_PORT, Settings


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
) -> None:
    """Run the DevSpark API server (migrates, and seeds an empty database, first)."""
    # Imported here so other commands do not pay for loading the web stack.
    import uvicorn

    from devspark.server.app import create_app
    from devspark.services.seed import seed_if_empty
    from devspark.store.db import make_engine, session_factory, upgrade

    settings = Settings.from_env(host=host, port=port, data_dir=data_dir)
    app = create_app(settings)
    # Migrate and seed before the app starts: its runner then resumes the seeded ladder.
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
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
