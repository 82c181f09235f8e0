"""Code that runs inside the sandbox: the stdlib-only Python runner and the JS runner.

Nothing here may import from the rest of DevSpark: the files are mounted read-only
into the sandbox and run on Debian's ``/usr/bin/python3 -I -S`` or the system ``node``.
"""

from pathlib import Path

SDK_DIR = Path(__file__).resolve().parent
"""Folder holding ``runner.py`` and ``js/runner.mjs``."""

PYTHON_RUNNER = SDK_DIR / "runner.py"
JS_RUNNER = SDK_DIR / "js" / "runner.mjs"

__all__ = ["JS_RUNNER", "PYTHON_RUNNER", "SDK_DIR"]
