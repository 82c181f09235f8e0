"""Resolving agent references: ``builtin:NAME`` or a folder."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

import devspark
from devspark.arena.agents import BUILTIN_DIR, builtin_names, resolve_agent
from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.sandbox.staging import content_hash


def test_builtin_names() -> None:
    agents_dir = Path(devspark.__file__).parent / "agents"
    assert agents_dir == BUILTIN_DIR
    folders = sorted(p.name for p in agents_dir.iterdir() if p.is_dir() and p.name[0] not in "._")
    assert sorted(builtin_names()) == folders  # every folder, nothing else
    assert {"minimax", "random", "random-js", "connect-four-alphabeta"} <= set(folders)
    for name in folders:  # each one loads, under the name of its folder
        assert resolve_agent(f"builtin:{name}").manifest.name == name


def test_resolve_builtin() -> None:
    package = resolve_agent("builtin:minimax")
    assert package.ref == "builtin:minimax"
    assert package.folder == BUILTIN_DIR / "minimax"
    assert package.manifest.name == "minimax"
    assert package.label == "minimax@1.0.0"
    assert re.fullmatch(r"[0-9a-f]{64}", package.sha256)
    assert package.sha256 == content_hash(package.folder)


def test_resolve_path(make_agent: Callable[..., Path]) -> None:
    folder = make_agent("def act(o, c):\n    return 0\n", name="local")
    package = resolve_agent(str(folder))
    assert package.folder == folder.resolve()
    assert package.ref == str(folder)
    assert package.manifest.name == "local"


def test_unknown_builtin_suggests_near_names() -> None:
    with pytest.raises(
        NotFoundError,
        match=re.escape("Unknown built-in agent 'builtin:randon'. Did you mean builtin:random"),
    ):
        resolve_agent("builtin:randon")


def test_unknown_builtin_lists_builtins() -> None:
    with pytest.raises(NotFoundError, match=r"Built-ins: .*minimax"):
        resolve_agent("builtin:zzzzzzzz")


def test_builtin_cannot_escape_the_builtin_folder(make_agent: Callable[..., Path]) -> None:
    folder = make_agent("def act(o, c):\n    return 0\n", name="impostor")
    escape = "../" * len(BUILTIN_DIR.parts) + str(folder).lstrip("/")
    with pytest.raises(NotFoundError, match="Unknown built-in agent"):
        resolve_agent(f"builtin:{escape}")


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=re.escape("no such folder")):
        resolve_agent(str(tmp_path / "nothing"))


def test_folder_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"no agent\.toml found"):
        resolve_agent(str(tmp_path))


def test_invalid_manifest(make_agent: Callable[..., Path]) -> None:
    folder = make_agent("def act(o, c):\n    return 0\n", extra={"version": "1.2"})
    with pytest.raises(InvalidArgumentError, match=re.escape("field 'version' = '1.2'")):
        resolve_agent(str(folder))
