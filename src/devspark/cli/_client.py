"""A small JSON client of a DevSpark server's API, for the commands that talk to one.

Errors keep their meaning: the server's ``{"error": {"code", "message"}}`` becomes the
:class:`~devspark.core.errors.DevSparkError` of that code, so ``devspark`` exits with
the status of the code (:data:`devspark.cli.app.EXIT_CODES`).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Annotated, Any

import typer

from devspark.core.errors import (
    ConflictError,
    DeadlineExceededError,
    DevSparkError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
)

SERVER_ENV = "DEVSPARK_SERVER"
"""The server the client commands talk to when ``--server`` is not given."""

TOKEN_ENV = "DEVSPARK_TOKEN"  # noqa: S105 - the variable's name, not a secret
"""The credentials they send when ``--token`` is not given."""

DEFAULT_SERVER = "http://127.0.0.1:8000"

_ERRORS: dict[str, type[DevSparkError]] = {
    cls.code: cls
    for cls in (
        ConflictError,
        DeadlineExceededError,
        FailedPreconditionError,
        InvalidArgumentError,
        NotFoundError,
        PermissionDeniedError,
        ResourceExhaustedError,
        UnauthenticatedError,
    )
}

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        help=f"The server's URL (default: ${SERVER_ENV}, else {DEFAULT_SERVER}).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help=f"An access token or an API key (dsk_...) (default: ${TOKEN_ENV}).",
        show_default=False,
    ),
]


class ApiClient:
    """JSON requests to one server with one set of credentials.

    Args:
        server: Base URL (``http://`` or ``https://``); ``None``: :data:`SERVER_ENV` or
            :data:`DEFAULT_SERVER`.
        token: A bearer access token, or an API key (``dsk_...``, sent as ``X-API-Key``);
            ``None``: :data:`TOKEN_ENV`, else no credentials.

    Raises:
        InvalidArgumentError: The URL is not http(s).

    """

    def __init__(self, server: str | None = None, token: str | None = None) -> None:
        base = server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            raise InvalidArgumentError(f"--server {base!r}: expected an http:// or https:// URL")
        self.base = base.rstrip("/")
        token = token or os.environ.get(TOKEN_ENV)
        self.headers = {"Accept": "application/json"}
        if token and token.startswith("dsk_"):
            self.headers["X-API-Key"] = token
        elif token:
            self.headers["Authorization"] = f"Bearer {token}"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, Any]:
        """Send one request; the status and the decoded JSON body (``None`` when empty).

        Raises:
            DevSparkError: The server's error, as the error class of its code.
            FailedPreconditionError: The server cannot be reached or answered garbage.

        """
        query = "" if not params else "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        url = f"{self.base}{path}{query}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 (scheme checked)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, _decode(response.read(), url)
        except urllib.error.HTTPError as exc:
            raise _error(exc, url) from None
        except (urllib.error.URLError, OSError) as exc:
            raise FailedPreconditionError(f"{self.base}: cannot reach the server ({exc})") from exc


def _decode(raw: bytes, url: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise FailedPreconditionError(f"{url}: the server did not answer JSON") from None


def _error(exc: urllib.error.HTTPError, url: str) -> DevSparkError:
    try:
        detail = json.loads(exc.read())["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        return FailedPreconditionError(f"{url}: HTTP {exc.code}")
    cls = _ERRORS.get(code)
    if cls is None:
        return FailedPreconditionError(f"{url}: HTTP {exc.code} {code}: {message}")
    return cls(message)


__all__ = ["DEFAULT_SERVER", "SERVER_ENV", "TOKEN_ENV", "ApiClient", "ServerOption", "TokenOption"]
