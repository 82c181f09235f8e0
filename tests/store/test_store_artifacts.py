"""The content-addressed artifact store."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.store import artifacts
from devspark.store.artifacts import ArtifactRef, ArtifactStore, default_root, parse_ref


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_round_trip_and_layout(store: ArtifactStore) -> None:
    data = b"agent package bytes"
    ref = store.put_bytes(data, "package")
    digest = hashlib.sha256(data).hexdigest()
    assert ref == ArtifactRef("package", digest)
    assert str(ref) == f"package:sha256:{digest}"
    assert store.path(ref) == store.root / "package" / digest[:2] / digest
    assert store.exists(ref) and store.exists(str(ref))
    assert store.read_bytes(str(ref)) == data
    with store.open(ref) as handle:
        assert handle.read() == data
    assert store.verify(ref)
    assert parse_ref(str(ref)) == ref


def test_put_is_idempotent_and_does_not_rewrite(store: ArtifactStore) -> None:
    first = store.put_bytes(b"same", "replay")
    mtime = store.path(first).stat().st_mtime_ns
    os.utime(store.path(first), ns=(1, 1))
    second = store.put_bytes(b"same", "replay")
    assert first == second
    assert store.path(first).stat().st_mtime_ns == 1 != mtime
    assert _all_files(store.root) == [store.path(first)]


def test_put_file_streams_and_matches_put_bytes(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(3 << 20)  # several chunks
    source = tmp_path / "agent.tar.gz"
    source.write_bytes(data)
    ref = store.put_file(source, "package")
    assert ref == store.put_bytes(data, "package")
    assert store.put_file(source, "package") == ref
    assert store.read_bytes(ref) == data
    assert _all_files(store.root) == [store.path(ref)]


def test_put_file_missing(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        store.put_file(tmp_path / "nope", "package")


def test_unknown_kind_rejected(store: ArtifactStore) -> None:
    with pytest.raises(InvalidArgumentError, match="kind 'secrets'"):
        store.put_bytes(b"x", "secrets")


def test_failed_write_leaves_no_partial_file(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(artifacts.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        store.put_bytes(b"payload", "package")
    monkeypatch.undo()
    assert _all_files(store.root) == []
    ref = store.put_bytes(b"payload", "package")
    assert store.read_bytes(ref) == b"payload"


def test_failed_stream_leaves_no_partial_file(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "big"
    source.write_bytes(b"x" * (3 << 20))
    calls = 0
    real_update = artifacts.hashlib.sha256

    class Failing:
        def __init__(self) -> None:
            self.inner = real_update()

        def update(self, chunk: bytes) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise OSError("read error")
            self.inner.update(chunk)

        def hexdigest(self) -> str:
            return self.inner.hexdigest()

    monkeypatch.setattr(artifacts.hashlib, "sha256", Failing)
    with pytest.raises(OSError, match="read error"):
        store.put_file(source, "package")
    assert _all_files(store.root) == []


@pytest.mark.parametrize(
    "text",
    [
        "package:sha256:../../x",
        "package:sha256:" + "0" * 63,
        "package:sha256:" + "A" * 64,
        "package:sha256:" + "0" * 64 + "/../x",
        "package:md5:" + "0" * 64,
        "secrets:sha256:" + "0" * 64,
        "../package:sha256:" + "0" * 64,
        "package:sha256:" + "0" * 64 + "\n",
        "",
    ],
)
def test_parse_ref_rejects(text: str, store: ArtifactStore) -> None:
    with pytest.raises(InvalidArgumentError, match="ref"):
        parse_ref(text)
    with pytest.raises(InvalidArgumentError, match="ref"):
        store.path(text)


def test_ref_constructor_validates() -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape("sha256 '../x'")):
        ArtifactRef("package", "../x")


def test_verify_detects_corruption(store: ArtifactStore) -> None:
    ref = store.put_bytes(b"original", "replay")
    store.path(ref).write_bytes(b"tampered")
    assert not store.verify(ref)


def test_missing_artifact(store: ArtifactStore) -> None:
    ref = ArtifactRef("package", "0" * 64)
    assert not store.exists(ref)
    with pytest.raises(NotFoundError, match="not found"):
        store.read_bytes(ref)
    with pytest.raises(NotFoundError, match="not found"):
        store.verify(ref)
    assert store.delete(ref) is False


def test_delete(store: ArtifactStore) -> None:
    ref = store.put_bytes(b"gone soon", "package")
    assert store.delete(ref) is True
    assert not store.exists(ref)


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEVSPARK_DATA_DIR", str(tmp_path))
    assert default_root() == tmp_path / "artifacts"
    assert ArtifactStore().root == tmp_path / "artifacts"
    monkeypatch.delenv("DEVSPARK_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_root() == tmp_path / "home" / ".local" / "share" / "devspark" / "artifacts"
