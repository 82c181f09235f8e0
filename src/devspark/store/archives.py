"""Unpack an uploaded agent archive (.tar.gz or .zip) safely and validate it.

An upload is hostile until proven otherwise. :func:`extract_agent_archive` detects the
format from the magic bytes, refuses absolute paths, ``..`` components, backslashes, NUL
bytes, links, device and fifo entries, duplicate entries, too many entries, and archives
whose uncompressed size passes the limit. Sizes are counted while the bytes stream out
of the decompressor, never taken from headers, so a zip or tar bomb stops after at most
``max_bytes`` plus one chunk written to disk.

Everything is extracted into a fresh temporary folder inside ``dest`` and renamed into
place only once the manifest, licence and entrypoint check out: a failure leaves
nothing behind.
"""

from __future__ import annotations

import io
import re
import shutil
import stat
import tarfile
import tempfile
import tomllib
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from devspark.core.errors import InvalidArgumentError
from devspark.core.manifest import MANIFEST_NAME, AgentManifest, parse_manifest
from devspark.core.packaging import MAX_AGENT_BYTES, content_hash

MAX_ARCHIVE_FILES = 2000
"""The most entries (files and folders) an agent archive may hold."""

MAX_COMPRESSED_BYTES = 16 << 20
"""The largest agent archive (as uploaded) DevSpark accepts."""

ArchiveFormat = Literal["tar.gz", "zip"]
_CHUNK = 64 << 10
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_MAX_PART_BYTES = 255
_MAX_NAME_BYTES = 1024
_NAME_SUFFIXES: dict[str, ArchiveFormat] = {".tar.gz": "tar.gz", ".tgz": "tar.gz", ".zip": "zip"}


@dataclass(frozen=True, slots=True)
class ExtractedAgent:
    """An agent unpacked from an upload and validated.

    Attributes:
        folder: The agent folder, ``dest/<sha256>``.
        manifest: Its validated ``agent.toml``.
        sha256: :func:`devspark.core.packaging.content_hash` of ``folder``.
        files: Relative POSIX paths of its files, sorted.
        total_bytes: Uncompressed size of all its files.

    """

    folder: Path
    manifest: AgentManifest
    sha256: str
    files: tuple[str, ...]
    total_bytes: int


@dataclass(slots=True)
class _Budget:
    """What the archive may still use, and what it has used."""

    filename: str
    max_bytes: int
    max_files: int
    written: int = 0
    entries: int = 0
    files: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)


def detect_format(data: bytes, filename: str) -> ArchiveFormat:
    """The archive format from its magic bytes, which must agree with its name.

    Raises:
        InvalidArgumentError: The name is not .tar.gz/.tgz/.zip or the bytes are not one.

    """
    by_name = next(
        (fmt for suffix, fmt in _NAME_SUFFIXES.items() if filename.lower().endswith(suffix)),
        None,
    )
    if by_name is None:
        raise InvalidArgumentError(
            f"filename {filename!r}: an agent archive must be .tar.gz, .tgz or .zip"
        )
    if data[:2] == b"\x1f\x8b":
        by_magic: ArchiveFormat | None = "tar.gz"
    elif data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        by_magic = "zip"
    else:
        by_magic = None
    if by_magic != by_name:
        raise InvalidArgumentError(
            f"filename {filename!r}: content is not a {by_name} archive"
            + (f" (it looks like {by_magic})" if by_magic else "")
        )
    return by_name


def _clean_name(name: str, filename: str) -> PurePosixPath | None:
    """The entry name as safe relative parts; ``None`` for the archive root itself."""
    where = f"{filename}: entry {name!r}"
    if "\0" in name:
        raise InvalidArgumentError(f"{where}: NUL byte in name")
    if "\\" in name:
        raise InvalidArgumentError(f"{where}: backslash in name")
    if name.startswith("/") or _DRIVE_RE.match(name):
        raise InvalidArgumentError(f"{where}: absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidArgumentError(f"{where}: '..' path component")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
        raise InvalidArgumentError(f"{where}: control character in name")
    _check_length(parts, where)
    return PurePosixPath(*parts) if parts else None


def _check_length(parts: list[str], where: str) -> None:
    """Refuse names the file system cannot hold (``ENAMETOOLONG`` was a 500)."""
    sizes = [len(part.encode("utf-8", "surrogateescape")) for part in parts]
    if any(size > _MAX_PART_BYTES for size in sizes):
        raise InvalidArgumentError(f"{where}: a path component is over {_MAX_PART_BYTES} bytes")
    if sum(sizes) + len(sizes) > _MAX_NAME_BYTES:
        raise InvalidArgumentError(f"{where}: the name is over {_MAX_NAME_BYTES} bytes")


def _claim(budget: _Budget, rel: PurePosixPath, name: str, *, is_dir: bool) -> None:
    """Count one entry and refuse duplicates and file/folder clashes."""
    budget.entries += 1
    if budget.entries > budget.max_files:
        raise InvalidArgumentError(
            f"{budget.filename}: more than {budget.max_files} entries (at {name!r})"
        )
    key = rel.as_posix()
    if key in budget.files or (not is_dir and key in budget.dirs):
        raise InvalidArgumentError(f"{budget.filename}: entry {name!r}: duplicate entry")
    for parent in rel.parents:
        if parent.as_posix() in budget.files:
            raise InvalidArgumentError(
                f"{budget.filename}: entry {name!r}: {parent.as_posix()!r} is a file"
            )
    if is_dir:
        budget.dirs.add(key)
    else:
        budget.files.add(key)
    budget.dirs.update(p.as_posix() for p in rel.parents if p.as_posix() != ".")


def _write(budget: _Budget, source: IO[bytes], target: Path, name: str, declared: int) -> None:
    """Copy one entry to ``target``, counting bytes as they come (headers are not trusted)."""
    if declared > budget.max_bytes - budget.written:
        raise InvalidArgumentError(_too_big(budget, name))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("xb") as out:
        while chunk := source.read(_CHUNK):
            budget.written += len(chunk)
            if budget.written > budget.max_bytes:
                raise InvalidArgumentError(_too_big(budget, name))
            out.write(chunk)


def _too_big(budget: _Budget, name: str) -> str:
    return (
        f"{budget.filename}: entry {name!r}: uncompressed size passes the limit of "
        f"{budget.max_bytes} bytes"
    )


def _tar_members(data: bytes) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as archive:
        for member in archive:
            yield archive, member


def _extract_tar(data: bytes, raw: Path, budget: _Budget) -> None:
    for archive, member in _tar_members(data):
        name = member.name
        where = f"{budget.filename}: entry {name!r}"
        if member.issym() or member.islnk():
            raise InvalidArgumentError(f"{where}: links are not allowed")
        if member.issparse() or not (member.isreg() or member.isdir()):
            raise InvalidArgumentError(f"{where}: only regular files and folders are allowed")
        rel = _clean_name(name, budget.filename)
        if rel is None:
            if member.isdir():
                continue
            raise InvalidArgumentError(f"{where}: empty name")
        _claim(budget, rel, name, is_dir=member.isdir())
        if member.isdir():
            (raw / rel).mkdir(parents=True, exist_ok=True)
            continue
        source = archive.extractfile(member)
        assert source is not None  # a regular member always has a file object
        _write(budget, source, raw / rel, name, member.size)


def _extract_zip(data: bytes, raw: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = info.filename
            where = f"{budget.filename}: entry {name!r}"
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise InvalidArgumentError(f"{where}: links are not allowed")
            if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise InvalidArgumentError(f"{where}: only regular files and folders are allowed")
            if info.flag_bits & 0x1:
                raise InvalidArgumentError(f"{where}: encrypted entries are not allowed")
            rel = _clean_name(name, budget.filename)
            is_dir = info.is_dir()
            if rel is None:
                if is_dir:
                    continue
                raise InvalidArgumentError(f"{where}: empty name")
            _claim(budget, rel, name, is_dir=is_dir)
            if is_dir:
                (raw / rel).mkdir(parents=True, exist_ok=True)
                continue
            with archive.open(info) as source:
                _write(budget, source, raw / rel, name, info.file_size)


def _agent_root(raw: Path, filename: str) -> Path:
    """``raw`` itself, or its single top folder when the files sit inside one."""
    if (raw / MANIFEST_NAME).is_file():
        return raw
    children = list(raw.iterdir())
    if len(children) == 1 and children[0].is_dir() and (children[0] / MANIFEST_NAME).is_file():
        return children[0]
    raise InvalidArgumentError(
        f"{filename}: no {MANIFEST_NAME} at the top level or inside one single top folder"
    )


def _check_manifest(folder: Path, filename: str) -> AgentManifest:
    """Validate ``agent.toml`` and check the licence and the entrypoint file."""
    source = f"{filename}:{MANIFEST_NAME}"
    try:
        data = tomllib.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"{source}: invalid TOML: {exc}") from None
    manifest = parse_manifest(data, source=source)
    if not manifest.license.strip():
        raise InvalidArgumentError(f"{source}: field 'license' is required")
    if not (folder / manifest.entrypoint).is_file():
        raise InvalidArgumentError(
            f"{source}: field 'entrypoint' = {manifest.entrypoint!r}: file not found in archive"
        )
    return manifest


def extract_agent_archive(
    data: bytes,
    filename: str,
    dest: Path,
    *,
    max_bytes: int = MAX_AGENT_BYTES,
    max_files: int = MAX_ARCHIVE_FILES,
    max_compressed: int = MAX_COMPRESSED_BYTES,
) -> ExtractedAgent:
    """Unpack an uploaded agent archive into ``dest/<sha256>`` and validate it.

    Args:
        data: The uploaded bytes.
        filename: The uploaded name (.tar.gz, .tgz or .zip); it must agree with the bytes.
        dest: The folder that receives the agent folder (created if missing).
        max_bytes: The most uncompressed bytes, all files together.
        max_files: The most entries (files and folders).
        max_compressed: The most bytes in ``data``.

    Returns:
        The extracted agent. When the same content was extracted before, the existing
        folder is kept and returned.

    Raises:
        InvalidArgumentError: The archive is malformed or hostile, or the manifest, licence
            or entrypoint is invalid; the message names the entry or the field.

    """
    if len(data) > max_compressed:
        raise InvalidArgumentError(
            f"{filename}: archive is {len(data)} bytes, over the limit of {max_compressed}"
        )
    fmt = detect_format(data, filename)
    dest.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=".upload-", dir=dest))
    try:
        return _extract_into(data, filename, fmt, dest, temp, max_bytes, max_files)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _extract_into(
    data: bytes,
    filename: str,
    fmt: ArchiveFormat,
    dest: Path,
    temp: Path,
    max_bytes: int,
    max_files: int,
) -> ExtractedAgent:
    raw = temp / "raw"
    raw.mkdir()
    budget = _Budget(filename, max_bytes, max_files)
    try:
        (_extract_tar if fmt == "tar.gz" else _extract_zip)(data, raw, budget)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise InvalidArgumentError(f"{filename}: corrupt {fmt} archive: {exc}") from None
    except NotImplementedError as exc:
        raise InvalidArgumentError(f"{filename}: unsupported {fmt} archive: {exc}") from None
    except UnicodeDecodeError as exc:  # a zip entry flagged UTF-8 whose name is not
        shown = exc.object[:200].decode("utf-8", errors="backslashreplace")
        raise InvalidArgumentError(
            f"{filename}: entry '{shown}': the name is marked UTF-8 but is not valid UTF-8"
        ) from None
    folder = _agent_root(raw, filename)
    manifest = _check_manifest(folder, filename)
    sha256 = content_hash(folder)
    files = tuple(
        sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    )
    total = sum((folder / name).stat().st_size for name in files)
    final = dest / sha256
    if not final.exists():
        try:
            folder.rename(final)
        except OSError:
            if not final.is_dir():
                raise
    return ExtractedAgent(final, manifest, sha256, files, total)
