"""Agent packages as content: the files that make an agent and their stable hash.

The hash names an agent version everywhere: staged sandbox copies, replays, the
registry and the artifact store all use :func:`content_hash`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from devspark.core.errors import InvalidArgumentError

MAX_AGENT_BYTES = 64 << 20
"""The largest agent (all files together) DevSpark accepts."""

SKIP_DIRS = frozenset(
    {"__pycache__", ".git", "node_modules", ".venv", ".mypy_cache", ".pytest_cache"}
)
"""Folders that are never part of an agent package."""


def package_files(folder: Path) -> list[Path]:
    """The files of the agent in ``folder``, in a stable order.

    Raises:
        InvalidArgumentError: The folder holds a symbolic link, a FIFO, socket or device,
            or a file whose name is not valid UTF-8.

    """
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in dirs:
            if (Path(root) / name).is_symlink():
                raise InvalidArgumentError(
                    f"{Path(root) / name}: symbolic links are not allowed in an agent"
                )
        for name in sorted(names):
            path = Path(root) / name
            if path.is_symlink():
                raise InvalidArgumentError(f"{path}: symbolic links are not allowed in an agent")
            if not path.is_file():  # reading a FIFO would wait for a writer for ever
                raise InvalidArgumentError(
                    f"{path}: only regular files are allowed in an agent (this is a FIFO, "
                    "socket or device)"
                )
            _check_utf8(path.relative_to(folder))
            found.append(path)
    return found


def _check_utf8(relative: Path) -> None:
    """Refuse a file name that is not valid UTF-8 (the hash and the registry need text).

    Raises:
        InvalidArgumentError: naming the file, its undecodable bytes escaped.

    """
    text = relative.as_posix()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(text).decode("utf-8", errors="backslashreplace")
        raise InvalidArgumentError(
            f"file '{shown}': the name is not valid UTF-8; rename it (agent file names "
            "must be UTF-8)"
        ) from None


def content_hash(folder: Path) -> str:
    """sha256 over relative paths and contents, stable across machines.

    Raises:
        InvalidArgumentError: A symbolic link, or more than :data:`MAX_AGENT_BYTES`.

    """
    digest = hashlib.sha256()
    total = 0
    for path in package_files(folder):
        data = path.read_bytes()
        total += len(data)
        if total > MAX_AGENT_BYTES:
            raise InvalidArgumentError(
                f"{folder}: agent is larger than {MAX_AGENT_BYTES >> 20} MiB"
            )
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()
