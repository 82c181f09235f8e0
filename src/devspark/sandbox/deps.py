"""Per-version Python dependencies: a read-only virtualenv built once per content hash.

``requirements = [...]`` in a manifest is installed with uv into a virtualenv for
Debian's ``/usr/bin/python3`` (the interpreter agents run on), under
``runtime/venvs/<sha256 of the requirements>``. The folder is made read-only and
mounted at ``/deps`` in the sandbox; the runner puts its site-packages on ``sys.path``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from devspark.core.errors import FailedPreconditionError
from devspark.sandbox.isolation import PYTHON
from devspark.sandbox.staging import runtime_dir

_PY_TAG = "python3.11"


def deps_key(requirements: list[str]) -> str:
    """Content hash of a requirement list (order and duplicates do not matter)."""
    text = "\n".join(sorted({r.strip() for r in requirements}))
    return hashlib.sha256(f"{PYTHON}\n{text}".encode()).hexdigest()


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    return [sys.executable, "-m", "uv"]


def build_deps(requirements: list[str], *, timeout: float = 600.0) -> Path:
    """Return the cached environment for ``requirements``, building it on first use.

    The returned folder holds ``site-packages`` (what the runner adds to ``sys.path``).

    Raises:
        FailedPreconditionError: when the installation fails (the message has uv's output).

    """
    key = deps_key(requirements)
    target = runtime_dir() / "venvs" / key
    if (target / "site-packages").is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.parent.chmod(0o755)
    scratch = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=target.parent))
    venv = scratch / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    commands = [
        [*_uv(), "venv", "--quiet", "--python", str(PYTHON), str(venv)],
        [
            *_uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            *requirements,
        ],
    ]
    for command in commands:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
        if done.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise FailedPreconditionError(
                f"installing requirements {requirements!r} failed: {done.stderr.strip()[-2000:]}"
            )
    (scratch / "site-packages").symlink_to(Path("venv") / "lib" / _PY_TAG / "site-packages")
    for root, dirs, files in os.walk(scratch):
        for name in dirs:
            (Path(root) / name).chmod(0o555)
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                path.chmod(0o444 if not os.access(path, os.X_OK) else 0o555)
    scratch.chmod(0o555)
    try:
        scratch.rename(target)
    except OSError:  # built concurrently by another process
        shutil.rmtree(scratch, ignore_errors=True)
    return target
