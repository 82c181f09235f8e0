"""A content-addressed artifact store kept in a folder.

Agent packages and replays are stored under their sha256: ``root/kind/ab/abcdef...``.
A reference is a string ``"<kind>:sha256:<64 hex digits>"``; :func:`parse_ref` accepts
nothing else, so a reference can never point outside the store.

Writes go to a temporary file in the same folder and are moved into place with
:meth:`pathlib.Path.replace` (``rename(2)``), so a reader sees either the whole artifact or none of it. Storing
the same content twice returns the same reference and does not rewrite the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, cast, get_args

from devspark.core.errors import InvalidArgumentError, NotFoundError

ArtifactKind = Literal["package", "replay"]
"""What an artifact holds: an agent package archive or a match replay."""

KINDS: tuple[str, ...] = get_args(ArtifactKind)
_REF_RE = re.compile(r"^(?P<kind>[a-z]+):sha256:(?P<digest>[0-9a-f]{64})$")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """The address of one artifact: its kind and the sha256 of its bytes.

    Attributes:
        kind: ``"package"`` or ``"replay"``.
        sha256: 64 lowercase hex digits.

    """

    kind: ArtifactKind
    sha256: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidArgumentError(f"kind {self.kind!r} is not one of {KINDS!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise InvalidArgumentError(f"sha256 {self.sha256!r} is not 64 lowercase hex digits")

    def __str__(self) -> str:
        return f"{self.kind}:sha256:{self.sha256}"


def parse_ref(text: str) -> ArtifactRef:
    """Parse ``"<kind>:sha256:<hex>"`` into an :class:`ArtifactRef`.

    Raises:
        InvalidArgumentError: ``text`` is not exactly a known kind and 64 hex digits.

    """
    match = _REF_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidArgumentError(
            f"ref {text!r} is not an artifact reference such as 'package:sha256:<64 hex>'"
        )
    kind = match["kind"]
    if kind not in KINDS:
        raise InvalidArgumentError(f"ref {text!r}: kind {kind!r} is not one of {KINDS!r}")
    return ArtifactRef(cast(ArtifactKind, kind), match["digest"])


def _check_kind(kind: str) -> ArtifactKind:
    if kind not in KINDS:
        raise InvalidArgumentError(f"kind {kind!r} is not one of {KINDS!r}")
    return cast(ArtifactKind, kind)


def default_root() -> Path:
    """The default store folder: ``$DEVSPARK_DATA_DIR/artifacts``.

    Without ``DEVSPARK_DATA_DIR`` the data folder is ``~/.local/share/devspark``.
    """
    data = os.environ.get("DEVSPARK_DATA_DIR")
    base = Path(data) if data else Path.home() / ".local" / "share" / "devspark"
    return base / "artifacts"


class ArtifactStore:
    """Content-addressed blobs in a folder (agent packages and replays).

    The store never decides whether an artifact may be deleted: refusing to delete a
    package that an agent version still refers to is the caller's job (the registry).

    Args:
        root: The store folder; created on first write. Defaults to :func:`default_root`.

    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def path(self, ref: ArtifactRef | str) -> Path:
        """Where the artifact ``ref`` lives (whether or not it exists)."""
        ref = _coerce(ref)
        return self.root / ref.kind / ref.sha256[:2] / ref.sha256

    def exists(self, ref: ArtifactRef | str) -> bool:
        """Whether the artifact ``ref`` is stored."""
        return self.path(ref).is_file()

    def put_bytes(self, data: bytes, kind: str) -> ArtifactRef:
        """Store ``data`` and return its reference (idempotent).

        Raises:
            InvalidArgumentError: ``kind`` is not ``"package"`` or ``"replay"``.

        """
        checked = _check_kind(kind)
        ref = ArtifactRef(checked, hashlib.sha256(data).hexdigest())
        target = self.path(ref)
        if target.is_file():
            return ref
        with self._temp_file(checked) as (handle, temp):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            target.parent.mkdir(parents=True, exist_ok=True)
            temp.replace(target)
        return ref

    def put_file(self, path: Path, kind: str) -> ArtifactRef:
        """Store the file at ``path``, streaming it while hashing (idempotent).

        Raises:
            InvalidArgumentError: ``kind`` is unknown.
            NotFoundError: ``path`` is not a file.

        """
        checked = _check_kind(kind)
        if not Path(path).is_file():
            raise NotFoundError(f"path {str(path)!r}: no such file")
        digest = hashlib.sha256()
        with self._temp_file(checked) as (handle, temp), Path(path).open("rb") as source:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            ref = ArtifactRef(checked, digest.hexdigest())
            target = self.path(ref)
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                temp.replace(target)
        return ref

    def open(self, ref: ArtifactRef | str) -> BinaryIO:
        """Open the artifact ``ref`` for reading in binary mode.

        Raises:
            NotFoundError: The artifact is not stored.

        """
        try:
            return self.path(ref).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"artifact {str(ref)!r} not found") from None

    def read_bytes(self, ref: ArtifactRef | str) -> bytes:
        """The whole content of artifact ``ref``.

        Raises:
            NotFoundError: The artifact is not stored.

        """
        with self.open(ref) as handle:
            return handle.read()

    def delete(self, ref: ArtifactRef | str) -> bool:
        """Remove artifact ``ref``; returns whether it was there.

        The store does not check references: a caller must not delete a package that an
        agent version (or a replay that a match) still points to.
        """
        try:
            self.path(ref).unlink()
        except FileNotFoundError:
            return False
        return True

    def verify(self, ref: ArtifactRef | str) -> bool:
        """Rehash the stored bytes; ``False`` when they no longer match the reference.

        Raises:
            NotFoundError: The artifact is not stored.

        """
        ref = _coerce(ref)
        digest = hashlib.sha256()
        with self.open(ref) as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == ref.sha256

    @contextlib.contextmanager
    def _temp_file(self, kind: ArtifactKind) -> Iterator[tuple[BinaryIO, Path]]:
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        temp = Path(name)
        handle = os.fdopen(fd, "wb")
        try:
            yield handle, temp
        finally:
            handle.close()
            temp.unlink(missing_ok=True)


def _coerce(ref: ArtifactRef | str) -> ArtifactRef:
    return ref if isinstance(ref, ArtifactRef) else parse_ref(ref)
