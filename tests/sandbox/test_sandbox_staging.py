"""Content-addressed staging: stable hashes, no symlinks, idempotent world-readable copies."""

from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path

import pytest

from devspark.core.errors import InvalidArgumentError
from devspark.sandbox import staging


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runtime"
    monkeypatch.setenv("DEVSPARK_RUNTIME_DIR", str(path))
    return path


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    folder = tmp_path / "agent"
    (folder / "lib").mkdir(parents=True)
    (folder / "agent.toml").write_text('name = "a"\n')
    (folder / "agent.py").write_text("def act(o, c):\n    return 0\n")
    (folder / "lib" / "helper.py").write_text("X = 1\n")
    return folder


def test_content_hash_is_stable_and_location_independent(agent: Path, tmp_path: Path) -> None:
    first = staging.content_hash(agent)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert staging.content_hash(agent) == first
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(agent, copy)
    assert staging.content_hash(copy) == first


def test_content_hash_changes_with_content_and_names(agent: Path) -> None:
    before = staging.content_hash(agent)
    (agent / "lib" / "helper.py").write_text("X = 2\n")
    changed = staging.content_hash(agent)
    assert changed != before
    (agent / "lib" / "helper.py").rename(agent / "lib" / "other.py")
    assert staging.content_hash(agent) not in {before, changed}


def test_content_hash_skips_caches(agent: Path) -> None:
    before = staging.content_hash(agent)
    (agent / "__pycache__").mkdir()
    (agent / "__pycache__" / "agent.cpython-311.pyc").write_bytes(b"\0junk")
    assert staging.content_hash(agent) == before


def test_symlinked_file_is_rejected(agent: Path) -> None:
    (agent / "secrets").symlink_to("/etc/passwd")
    with pytest.raises(InvalidArgumentError, match="symbolic links are not allowed"):
        staging.content_hash(agent)


def test_symlinked_directory_is_rejected(agent: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (agent / "data").symlink_to(tmp_path / "outside")
    with pytest.raises(InvalidArgumentError, match="symbolic links are not allowed"):
        staging.content_hash(agent)


def test_stage_is_idempotent_and_named_by_hash(runtime: Path, agent: Path) -> None:
    first = staging.stage(agent)
    second = staging.stage(agent)
    assert first.path == second.path
    assert first.sha256 == staging.content_hash(agent)
    assert first.path == runtime / "agents" / first.sha256
    assert first.source == agent.resolve()
    leftovers = [p for p in first.path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_stage_copy_is_complete_and_world_readable(runtime: Path, agent: Path) -> None:
    staged = staging.stage(agent, kind="sdk")
    assert staged.path.parent == runtime / "sdk"
    copied = sorted(p.relative_to(staged.path).as_posix() for p in staged.path.rglob("*"))
    assert copied == ["agent.py", "agent.toml", "lib", "lib/helper.py"]
    assert (staged.path / "lib" / "helper.py").read_text() == "X = 1\n"
    for path in [staged.path, *staged.path.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = 0o755 if path.is_dir() else 0o644
        assert mode == expected, path
    runtime_mode = stat.S_IMODE(runtime.stat().st_mode)
    assert runtime_mode & 0o001  # others may traverse to their staged copy


def test_stage_new_content_gets_a_new_copy(runtime: Path, agent: Path) -> None:
    first = staging.stage(agent)
    (agent / "agent.py").write_text("def act(o, c):\n    return 1\n")
    second = staging.stage(agent)
    assert second.path != first.path
    assert (first.path / "agent.py").read_text().endswith("return 0\n")


def test_state_dir_is_private_and_owned(runtime: Path) -> None:
    path = staging.state_dir("key-1", uid=None, gid=None)
    assert path == runtime / "state" / "key-1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert staging.state_dir("key-1", uid=None, gid=None) == path
