"""``devspark agent``: create and check agent folders."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from devspark.core.errors import ConflictError, InvalidArgumentError
from devspark.core.isolation import IsolationLevel
from devspark.sdk import SDK_DIR
from devspark.testing.check_agent import check_agent

app = typer.Typer(help="Create and check agents.", no_args_is_help=True)
_LANGUAGES = {"python": "python", "javascript": "javascript", "js": "javascript"}


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="Agent name: lowercase letters, digits and '-'.")],
    language: Annotated[str, typer.Option(help="python or javascript.")] = "python",
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to create it (default ./NAME).")
    ] = None,
) -> None:
    """Write a working agent template."""
    if language not in _LANGUAGES:
        raise InvalidArgumentError(f"--language {language!r} is not one of: python, javascript")
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?", name):
        raise InvalidArgumentError(f"name {name!r} must match [a-z0-9-] (no leading/trailing '-')")
    target = directory or Path(name)
    if target.exists() and any(target.iterdir()):
        raise ConflictError(f"{target} already exists and is not empty")
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted((SDK_DIR / "templates" / _LANGUAGES[language]).iterdir()):
        text = source.read_text(encoding="utf-8")
        (target / source.name).write_text(text.replace("{name}", name), encoding="utf-8")
    Console().print(
        f"Created {language} agent [bold]{name}[/] in {target}/ — try: devspark agent check {target}"
    )


@app.command("check")
def check(
    folder: Annotated[Path, typer.Argument(help="Agent folder with agent.toml.")],
    isolation: Annotated[
        str, typer.Option(help="trusted, process, sandbox or gvisor.")
    ] = "sandbox",
    episodes: Annotated[int, typer.Option(min=1, help="Episodes per scenario and seat.")] = 4,
) -> None:
    """Validate the manifest and run the conformance kit; exit 1 when a check fails."""
    console = Console()
    report = check_agent(folder, isolation=IsolationLevel.parse(isolation), episodes=episodes)
    for item in report.checks:
        mark = Text("PASS", style="green") if item.ok else Text("FAIL", style="red")
        console.print(Text.assemble(mark, f" {item.name}: {item.detail}"), highlight=False)
    if not report.ok:
        raise typer.Exit(1)
