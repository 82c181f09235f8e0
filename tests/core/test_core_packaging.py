"""Agent packages as content: which files count, and names the hash can hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devspark.core.errors import InvalidArgumentError
from devspark.core.packaging import content_hash, package_files


def test_a_file_name_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "agent.py").write_text("X = 1\n")
    bad = tmp_path / "sub" / os.fsdecode(b"bad\xffname.py")  # as a tar member may be named
    bad.write_bytes(b"X = 2\n")
    for reader in (package_files, content_hash):
        with pytest.raises(InvalidArgumentError) as info:
            reader(tmp_path)
        assert str(info.value) == (
            "file 'sub/bad\\xffname.py': the name is not valid UTF-8; rename it "
            "(agent file names must be UTF-8)"
        )


def test_utf8_names_hash_stably(tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text("X = 1\n")
    (tmp_path / "données.py").write_text("Y = 2\n")
    first = content_hash(tmp_path)
    assert [path.name for path in package_files(tmp_path)] == ["agent.py", "données.py"]
    (tmp_path / "données.py").write_text("Y = 3\n")
    assert content_hash(tmp_path) != first


def test_a_fifo_in_an_agent_folder_is_refused_not_read(tmp_path: Path) -> None:
    # content_hash read it with read_bytes(), which waits for a writer for ever.
    (tmp_path / "agent.py").write_text("X = 1\n")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InvalidArgumentError, match="pipe: only regular files are allowed"):
        content_hash(tmp_path)
    with pytest.raises(InvalidArgumentError, match="FIFO, socket or device"):
        package_files(tmp_path)
