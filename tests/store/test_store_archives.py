"""Hostile and honest agent uploads through extract_agent_archive."""

from __future__ import annotations

import contextlib
import io
import re
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from devspark.core.errors import InvalidArgumentError
from devspark.core.packaging import content_hash
from devspark.store import archives
from devspark.store.archives import extract_agent_archive

MANIFEST = b"""name = "good-agent"
version = "1.0.0"
language = "python"
entrypoint = "main.py"
license = "MIT"
"""
GOOD = {
    "agent.toml": MANIFEST,
    "main.py": b"def act(obs):\n    return 0\n",
    "lib/helpers.py": b"X = 1\n",
}

Entry = tuple[str, bytes]


def make_tar(files: dict[str, bytes] | list[Entry], *, prefix: str = "") -> bytes:
    items = files.items() if isinstance(files, dict) else files
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in items:
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_zip(files: dict[str, bytes] | list[Entry], *, prefix: str = "") -> bytes:
    items = files.items() if isinstance(files, dict) else files
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in items:
            archive.writestr(prefix + name, data)
    return buffer.getvalue()


def tar_with(extra: tarfile.TarInfo) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in GOOD.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        archive.addfile(extra, io.BytesIO(b"x" * extra.size) if extra.size else None)
    return buffer.getvalue()


def leftovers(dest: Path) -> list[Path]:
    return list(dest.iterdir()) if dest.exists() else []


MAKERS: dict[str, tuple[str, Callable[..., bytes]]] = {
    "tar": ("agent.tar.gz", make_tar),
    "zip": ("agent.zip", make_zip),
}


@pytest.fixture
def on_disk_hash(tmp_path: Path) -> str:
    folder = tmp_path / "on-disk"
    for name, data in GOOD.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return content_hash(folder)


@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize("prefix", ["", "good-agent-1.0.0/", "./"])
def test_good_archive(kind: str, prefix: str, tmp_path: Path, on_disk_hash: str) -> None:
    filename, make = MAKERS[kind]
    dest = tmp_path / "dest"
    agent = extract_agent_archive(make(GOOD, prefix=prefix), filename, dest)
    assert agent.sha256 == on_disk_hash
    assert agent.folder == dest / on_disk_hash
    assert agent.manifest.name == "good-agent"
    assert agent.manifest.license == "MIT"
    assert agent.files == ("agent.toml", "lib/helpers.py", "main.py")
    assert agent.total_bytes == sum(len(d) for d in GOOD.values())
    assert (agent.folder / "main.py").read_bytes() == GOOD["main.py"]
    assert leftovers(dest) == [agent.folder]  # no temp folder left


def test_same_content_twice_keeps_one_folder(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    first = extract_agent_archive(make_tar(GOOD), "a.tgz", dest)
    second = extract_agent_archive(make_zip(GOOD, prefix="top/"), "a.zip", dest)
    assert first.folder == second.folder
    assert leftovers(dest) == [first.folder]


@pytest.mark.parametrize("kind", ["tar", "zip"])
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil", "'..' path component"),
        ("/etc/x", "absolute path"),
        ("a/../../b", "'..' path component"),
        ("C:/windows/x", "absolute path"),
        ("lib\\..\\..\\evil", "backslash"),
        ("bad\x01name", "control character"),
        ("bad\x7fname", "control character"),
        ("bad\x85name", "control character"),
        ("a" * 256 + ".py", "a path component is over 255 bytes"),
        ("é" * 128 + ".py", "a path component is over 255 bytes"),
        (
            "/".join(letter * 200 for letter in "defghi"),
            "the name is over 1024 bytes",
        ),
    ],
)
def test_hostile_names(kind: str, name: str, reason: str, tmp_path: Path) -> None:
    filename, make = MAKERS[kind]
    dest = tmp_path / "dest"
    with pytest.raises(InvalidArgumentError, match=re.escape(f"entry {name!r}: {reason}")):
        extract_agent_archive(make([*GOOD.items(), (name, b"pwned")]), filename, dest)
    assert leftovers(dest) == []
    assert not (tmp_path / "evil").exists()


def test_a_zip_name_flagged_utf8_that_is_not_is_refused_naming_it(tmp_path: Path) -> None:
    data = make_zip([*GOOD.items(), ("é.py", b"X = 1\n")])  # non-ASCII: flagged UTF-8
    assert "é.py".encode() in data
    hostile = data.replace("é.py".encode(), b"\xff\xfe.py")
    dest = tmp_path / "dest"
    with pytest.raises(InvalidArgumentError, match=r"entry '\\xff\\xfe\.py'.*not valid UTF-8"):
        extract_agent_archive(hostile, "a.zip", dest)
    assert leftovers(dest) == []


@pytest.mark.parametrize("link_type", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_links_rejected(link_type: bytes, tmp_path: Path) -> None:
    info = tarfile.TarInfo("link")
    info.type = link_type
    info.linkname = "/etc/passwd"
    with pytest.raises(InvalidArgumentError, match="entry 'link': links are not allowed"):
        extract_agent_archive(tar_with(info), "a.tar.gz", tmp_path)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("dev_type", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_tar_devices_rejected(dev_type: bytes, tmp_path: Path) -> None:
    info = tarfile.TarInfo("dev")
    info.type = dev_type
    with pytest.raises(InvalidArgumentError, match="entry 'dev': only regular files"):
        extract_agent_archive(tar_with(info), "a.tar.gz", tmp_path)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("mode", "reason"),
    [(stat.S_IFLNK | 0o777, "links are not allowed"), (stat.S_IFIFO | 0o644, "only regular")],
)
def test_zip_special_entries_rejected(mode: int, reason: str, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in GOOD.items():
            archive.writestr(name, data)
        info = zipfile.ZipInfo("special")
        info.external_attr = mode << 16
        archive.writestr(info, b"/etc/passwd")
    with pytest.raises(InvalidArgumentError, match=f"entry 'special': {reason}"):
        extract_agent_archive(buffer.getvalue(), "a.zip", tmp_path)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_duplicate_entries(kind: str, tmp_path: Path) -> None:
    filename, make = MAKERS[kind]
    entries = [*GOOD.items(), ("main.py", b"evil twin")]
    with pytest.warns(UserWarning) if kind == "zip" else contextlib.nullcontext():
        data = make(entries)
    with pytest.raises(InvalidArgumentError, match=re.escape("entry 'main.py': duplicate entry")):
        extract_agent_archive(data, filename, tmp_path)
    assert leftovers(tmp_path) == []


def test_file_folder_clash(tmp_path: Path) -> None:
    data = make_tar([*GOOD.items(), ("main.py/inner.py", b"x")])
    with pytest.raises(InvalidArgumentError, match=re.escape("'main.py' is a file")):
        extract_agent_archive(data, "a.tgz", tmp_path)


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_too_many_files(kind: str, tmp_path: Path) -> None:
    filename, make = MAKERS[kind]
    entries = [*GOOD.items(), *((f"f{i}.txt", b"") for i in range(20))]
    with pytest.raises(InvalidArgumentError, match="more than 10 entries"):
        extract_agent_archive(make(entries), filename, tmp_path, max_files=10)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_bomb_stops_early(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    filename, make = MAKERS[kind]
    limit = 1 << 20
    bomb = make([*GOOD.items(), ("bomb.bin", b"\0" * (32 << 20))])
    assert len(bomb) < 200_000  # highly compressible
    seen: list[int] = []
    real_rmtree = archives.shutil.rmtree

    def measuring_rmtree(path: Path, **kwargs: bool) -> None:
        seen.append(sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()))
        real_rmtree(path, **kwargs)

    monkeypatch.setattr(archives.shutil, "rmtree", measuring_rmtree)
    with pytest.raises(
        InvalidArgumentError, match=re.escape("entry 'bomb.bin': uncompressed size passes")
    ):
        extract_agent_archive(bomb, filename, tmp_path, max_bytes=limit)
    assert leftovers(tmp_path) == []
    assert seen and seen[0] <= limit  # never wrote past the limit


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_sizes_add_up_across_entries(kind: str, tmp_path: Path) -> None:
    """Many entries each under the limit still cannot push more than max_bytes in all."""
    filename, make = MAKERS[kind]
    entries = [*GOOD.items(), *((f"part{i}.bin", b"\0" * 300_000) for i in range(8))]
    with pytest.raises(InvalidArgumentError, match="uncompressed size passes"):
        extract_agent_archive(make(entries), filename, tmp_path, max_bytes=1 << 20)
    assert leftovers(tmp_path) == []


def test_compressed_size_limit(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="over the limit of 100"):
        extract_agent_archive(make_tar(GOOD), "a.tgz", tmp_path, max_compressed=100)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (make_tar(GOOD), "agent.zip", "content is not a zip archive"),
        (make_zip(GOOD), "agent.tar.gz", "content is not a tar.gz archive"),
        (b"just text", "agent.tgz", "content is not a tar.gz archive"),
        (make_tar(GOOD), "agent.rar", "must be .tar.gz, .tgz or .zip"),
        (b"\x1f\x8b" + b"\0" * 40, "agent.tgz", "corrupt tar.gz archive"),
        (b"PK\x03\x04" + b"\0" * 40, "agent.zip", "corrupt zip archive"),
    ],
)
def test_format_detection(data: bytes, filename: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        extract_agent_archive(data, filename, tmp_path)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_missing_manifest(kind: str, tmp_path: Path) -> None:
    filename, make = MAKERS[kind]
    files = {k: v for k, v in GOOD.items() if k != "agent.toml"}
    with pytest.raises(InvalidArgumentError, match=re.escape("no agent.toml at the top level")):
        extract_agent_archive(make(files), filename, tmp_path)
    assert leftovers(tmp_path) == []


def test_two_top_folders_are_not_stripped(tmp_path: Path) -> None:
    entries = [*((f"a/{k}", v) for k, v in GOOD.items()), ("b/readme.txt", b"hi")]
    with pytest.raises(InvalidArgumentError, match="inside one single top folder"):
        extract_agent_archive(make_tar(entries), "a.tgz", tmp_path)


@pytest.mark.parametrize(
    ("manifest", "field"),
    [
        (MANIFEST.replace(b'version = "1.0.0"', b'version = "one"'), "field 'version'"),
        (MANIFEST.replace(b'license = "MIT"\n', b""), "field 'license' is required"),
        (MANIFEST.replace(b'license = "MIT"', b'license = ""'), "field 'license'"),
        (MANIFEST + b'colour = "red"\n', "field 'colour'"),
        (b"name = [", "invalid TOML"),
    ],
)
def test_invalid_manifest_names_the_field(manifest: bytes, field: str, tmp_path: Path) -> None:
    files = {**GOOD, "agent.toml": manifest}
    with pytest.raises(InvalidArgumentError, match=field):
        extract_agent_archive(make_zip(files), "a.zip", tmp_path)
    assert leftovers(tmp_path) == []


def test_missing_entrypoint(tmp_path: Path) -> None:
    files = {k: v for k, v in GOOD.items() if k != "main.py"}
    with pytest.raises(
        InvalidArgumentError, match=re.escape("field 'entrypoint' = 'main.py': file not found")
    ):
        extract_agent_archive(make_tar(files), "a.tgz", tmp_path)
    assert leftovers(tmp_path) == []
