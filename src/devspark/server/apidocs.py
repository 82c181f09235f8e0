"""Interactive API documentation (``/docs`` and ``/redoc``) served without any CDN.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so they are blank on a
machine without internet access. Here both pages load their assets from the
``fastapi-offline`` package (Swagger UI 5 and ReDoc 2, installed with the project),
mounted at :data:`DOCS_STATIC_PATH`. Each page carries its own
``Content-Security-Policy``: the dashboard's policy forbids inline script, and Swagger
UI starts from one inline ``<script>``, which the policy admits by its SHA-256 hash
(nothing else inline runs).
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_STATIC_PATH = "/static-docs"
"""Where the Swagger UI and ReDoc files are served."""

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def assets_dir() -> Path:
    """The folder of ``fastapi-offline``'s bundled Swagger UI and ReDoc files."""
    return Path(str(resources.files("fastapi_offline") / "static"))


def _script_hashes(html: str) -> str:
    """CSP sources admitting exactly the inline scripts of ``html``."""
    digests = []
    for script in _INLINE_SCRIPT.findall(html):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        digests.append(f"'sha256-{digest}'")
    return " ".join(digests)


def _policy(html: str, *, workers: bool = False) -> str:
    """A page policy: same-origin files, the page's own inline scripts by hash."""
    hashes = _script_hashes(html)
    script_src = f"script-src 'self' {hashes}".rstrip()
    worker = "; worker-src 'self' blob:" if workers else ""
    return (
        f"default-src 'self'; {script_src}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; connect-src 'self'{worker}; frame-ancestors 'none'"
    )


def _with_policy(response: HTMLResponse, *, workers: bool = False) -> HTMLResponse:
    html = bytes(response.body).decode()
    response.headers["Content-Security-Policy"] = _policy(html, workers=workers)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def mount_api_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve Swagger UI at ``docs_url`` and ReDoc at ``redoc_url`` from local files.

    Build ``app`` with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not
    registered too. The pages are left out of the OpenAPI document.

    Args:
        app: The application.
        docs_url: Path of the Swagger UI page.
        redoc_url: Path of the ReDoc page.

    """
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = f"{docs_url}/oauth2-redirect"
    app.mount(DOCS_STATIC_PATH, StaticFiles(directory=assets_dir()), name="static-docs")

    def swagger_ui(request: Request) -> HTMLResponse:
        """Swagger UI, from files served by this server."""
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{root}{DOCS_STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_STATIC_PATH}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        return _with_policy(page)

    def oauth2_redirect() -> HTMLResponse:
        """Swagger UI's OAuth2 redirect helper."""
        return _with_policy(get_swagger_ui_oauth2_redirect_html())

    def redoc(request: Request) -> HTMLResponse:
        """ReDoc, from files served by this server (no web fonts fetched)."""
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_STATIC_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_STATIC_PATH}/favicon.png",
            with_google_fonts=False,
        )
        return _with_policy(page, workers=True)

    app.add_api_route(docs_url, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(redirect_url, oauth2_redirect, methods=["GET"], include_in_schema=False)
    app.add_api_route(redoc_url, redoc, methods=["GET"], include_in_schema=False)


__all__ = ["DOCS_STATIC_PATH", "assets_dir", "mount_api_docs"]
