"""The web dashboard: a single static page served by the API server itself.

:func:`mount_dashboard` serves ``static/`` at ``/static`` and ``static/index.html`` at
``/`` (and ``/index.html``). The page is plain HTML, CSS and ES modules (no build step,
no third-party code, nothing fetched from elsewhere); it talks to ``/api/v1`` with the
user's bearer token. See ``docs/dashboard.md``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
"""Folder of the dashboard's files (``index.html``, ``css/``, ``js/``)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'"
)
"""Policy sent with the page: only our own files run; no inline script or style."""

_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: ``/`` and ``/index.html`` the page, ``/static`` its files.

    The routes are left out of the OpenAPI document. The page carries a strict
    ``Content-Security-Policy`` (:data:`CONTENT_SECURITY_POLICY`).

    Args:
        app: The application built by :func:`devspark.server.app.create_app`.
    """
    index = STATIC_DIR / "index.html"

    def page() -> FileResponse:
        """The dashboard's single page; routing happens in the browser (``#/...``)."""
        return FileResponse(index, media_type="text/html", headers=_PAGE_HEADERS)

    for path in ("/", "/index.html"):
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "mount_dashboard"]
