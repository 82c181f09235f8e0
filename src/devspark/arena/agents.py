"""Resolve agent references: ``builtin:NAME`` or a folder holding ``agent.toml``."""

from __future__ import annotations

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


def resolve_agent(ref: str) -> AgentPackage:
    """Load and validate the agent named by ``ref``.

    Raises:
        NotFoundError: unknown built-in (with suggestions) or a folder without agent.toml.
        InvalidArgumentError: the manifest is invalid (names the field and value).

    """
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
