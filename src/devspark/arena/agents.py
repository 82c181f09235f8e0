"""Resolve agent references: ``builtin:NAME`` or a folder holding ``agent.toml``.

A reference may also be a name the arena cannot resolve by itself (the server's
``agent:USER/NAME@VERSION`` for an uploaded agent): the caller then passes the folder
it staged the agent in as ``source``, and the reference stays the agent's name in
results and replays.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

from devspark.core.errors import NotFoundError
from devspark.core.manifest import MANIFEST_NAME, load_manifest
from devspark.core.packaging import content_hash
from devspark.core.ports import AgentPackage

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "agents"
BUILTIN_PREFIX = "builtin:"


def builtin_names() -> list[str]:
    """Names of the agents shipped with DevSpark."""
    return sorted(p.parent.name for p in BUILTIN_DIR.glob(f"*/{MANIFEST_NAME}"))


def resolve_agent(ref: str, *, source: str | None = None) -> AgentPackage:
    """Load and validate the agent named by ``ref``.

    Args:
        ref: ``builtin:NAME`` or a folder; with ``source``, any name.
        source: The folder to load the agent from when ``ref`` is only its name.

    Raises:
        NotFoundError: unknown built-in (with suggestions) or a folder without agent.toml.
        InvalidArgumentError: the manifest is invalid (names the field and value).

    """
    if source:
        return dataclasses.replace(resolve_agent(source), ref=ref)
    if ref.startswith(BUILTIN_PREFIX):
        name = ref.removeprefix(BUILTIN_PREFIX)
        folder = BUILTIN_DIR / name
        if name not in builtin_names():  # also rejects builtin:../elsewhere
            names = builtin_names()
            near = difflib.get_close_matches(name, names, n=3)
            hint = f" Did you mean {', '.join(BUILTIN_PREFIX + n for n in near)}?" if near else ""
            raise NotFoundError(
                f"Unknown built-in agent {ref!r}.{hint} Built-ins: {', '.join(names)}"
            )
    else:
        folder = Path(ref).expanduser().resolve()
        if not folder.is_dir():
            raise NotFoundError(
                f"agent {ref!r}: no such folder (use a folder with agent.toml or builtin:NAME)"
            )
    manifest = load_manifest(folder)
    return AgentPackage(ref=ref, folder=folder, manifest=manifest, sha256=content_hash(folder))
