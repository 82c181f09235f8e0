"""Pack an agent folder into the archive the registry accepts (tests, examples, scripts).

``pack_agent(folder)`` gives the bytes of a ``.tar.gz`` holding the folder's files at
its root, optionally renamed or re-versioned (the manifest's ``name``/``version`` lines
are rewritten), ready for ``POST /api/v1/agents``.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

from devspark.core.manifest import MANIFEST_NAME


def pack_agent(folder: Path, *, name: str | None = None, version: str | None = None) -> bytes:
    """The agent in ``folder`` as ``.tar.gz`` bytes.

    Args:
        folder: A folder holding ``agent.toml`` and the agent's files.
        name: A new manifest ``name``; ``None`` keeps it.
        version: A new manifest ``version``; ``None`` keeps it.

    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            data = path.read_bytes()
            rel = path.relative_to(folder).as_posix()
            if rel == MANIFEST_NAME:
                text = data.decode()
                if name is not None:
                    text = re.sub(r'(?m)^name = ".*"$', f'name = "{name}"', text)
                if version is not None:
                    text = re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', text)
                data = text.encode()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A ``.tar.gz`` of ``files`` (path -> bytes), in the given order, mode 0644.

    A path may carry undecodable bytes as surrogate escapes (``os.fsdecode``), as a
    hostile archive would.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


__all__ = ["pack_agent", "tar_gz"]
