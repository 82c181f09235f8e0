"""A throwaway PEP 503 package index served over HTTP on 127.0.0.1 (tests only).

Tests of the requirements installer point ``DEVSPARK_PIP_INDEX_URL`` at it, so they need
no internet: :meth:`LocalIndex.add_wheel` publishes a tiny pure-Python wheel and
:meth:`LocalIndex.add_hostile_sdist` a source distribution whose PEP 517 build backend
writes a marker file the moment anything imports it (proof that package code ran).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
import textwrap
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from devspark.testing.archives import tar_gz

VERSION = "0.1.0"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class LocalIndex:
    """A package index in ``root`` (``simple/<name>/`` pages, ``files/``), served on start.

    Use as a context manager; :attr:`url` is the index URL for uv or pip.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "simple").mkdir(parents=True, exist_ok=True)
        (root / "files").mkdir(exist_ok=True)
        handler = partial(_QuietHandler, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The simple-index URL, e.g. ``http://127.0.0.1:PORT/simple``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple"

    def __enter__(self) -> LocalIndex:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _publish(self, name: str, filename: str, data: bytes) -> None:
        (self.root / "files" / filename).write_bytes(data)
        page = self.root / "simple" / _normalise(name)
        page.mkdir(exist_ok=True)
        digest = hashlib.sha256(data).hexdigest()
        link = f'<a href="../../files/{html.escape(filename)}#sha256={digest}">{filename}</a>'
        (page / "index.html").write_text(f"<!DOCTYPE html><html><body>{link}</body></html>\n")

    def add_wheel(self, name: str, module_source: str) -> None:
        """Publish ``name`` as a pure-Python wheel whose one module is ``module_source``."""
        module = _normalise(name).replace("-", "_")
        dist_info = f"{module}-{VERSION}.dist-info"
        files = {
            f"{module}/__init__.py": textwrap.dedent(module_source).encode(),
            f"{dist_info}/METADATA": (
                f"Metadata-Version: 2.1\nName: {name}\nVersion: {VERSION}\n"
            ).encode(),
            f"{dist_info}/WHEEL": (
                b"Wheel-Version: 1.0\nGenerator: devspark-tests\nRoot-Is-Purelib: true\n"
                b"Tag: py3-none-any\n"
            ),
        }
        record = []
        for path, data in files.items():
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.append(f"{dist_info}/RECORD,,")
        files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
            for path, data in files.items():
                wheel.writestr(path, data)
        self._publish(name, f"{module}-{VERSION}-py3-none-any.whl", buffer.getvalue())

    def add_hostile_sdist(self, name: str, marker: Path) -> bytes:
        """Publish ``name`` as a source distribution only; its build backend writes ``marker``.

        Returns:
            The ``.tar.gz`` bytes (to serve elsewhere or reference directly).

        """
        module = _normalise(name).replace("-", "_")
        base = f"{module}-{VERSION}"
        backend = f"""
            from pathlib import Path
            Path({str(marker)!r}).write_text("package code ran on this host\\n")

            def get_requires_for_build_wheel(config_settings=None):
                return []

            def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
                raise RuntimeError("this sdist only proves that its backend ran")
        """
        files = {
            f"{base}/pyproject.toml": (
                b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
            ),
            f"{base}/backend.py": textwrap.dedent(backend).encode(),
            f"{base}/PKG-INFO": (
                f"Metadata-Version: 2.1\nName: {name}\nVersion: {VERSION}\n"
            ).encode(),
        }
        data = tar_gz(files)
        self._publish(name, f"{base}.tar.gz", data)
        return data
