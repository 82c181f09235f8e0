"""Requests refused at the door, before any route runs: oversized bodies, NUL characters.

:class:`BodySizeLimitMiddleware` caps request bodies: a declared ``Content-Length`` over
the cap is refused with 413 before a byte of the body is read; a body without one
(chunked) is counted as the app reads it, and the read that crosses the cap ends the
request with 413 (whatever the app was about to answer). Agent uploads
(:data:`UPLOAD_ROUTE`) get their own, larger cap.

:class:`NulCharacterMiddleware` refuses a query string or path holding a NUL character
(``%00``) with 422 naming the parameter: PostgreSQL cannot store or compare NUL in text,
so such a filter would otherwise fail deep in the database driver.

Both answer with the standard error body (:func:`devspark.server.errors.error_response`).
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devspark.server.errors import error_response

UPLOAD_ROUTE = re.compile(r"/api/v1/agents(?:/[^/]+)?")
"""Paths whose ``POST``/``PUT`` carry an agent archive (the upload cap applies)."""

_UPLOAD_METHODS = frozenset({"POST", "PUT"})
_CONTENT_LENGTH = b"content-length"


class BodyTooLargeError(Exception):
    """Raised into the app by the limited ``receive`` when the body crosses the cap."""


class BodySizeLimitMiddleware:
    """Refuse request bodies over a cap with 413 ``resource_exhausted``.

    Args:
        app: The wrapped application.
        max_body: Cap of every body but agent uploads, in bytes.
        max_upload: Cap of ``POST``/``PUT`` bodies on :data:`UPLOAD_ROUTE`.

    """

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    def limit_for(self, method: str, path: str) -> int:
        """The cap of a request's body, in bytes."""
        if method in _UPLOAD_METHODS and UPLOAD_ROUTE.fullmatch(path):
            return self.max_upload
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, limit)  # nothing of the body was read
            return
        received = 0
        overflow = started = False

        async def limited_receive() -> Message:
            nonlocal received, overflow
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    overflow = True
                    raise BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if overflow:
                return  # whatever the app answers to the aborted read, the answer is 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(BodyTooLargeError):  # the 413 below answers instead
            await self.app(scope, limited_receive, guarded_send)
        if overflow and not started:
            await _refuse(scope, receive, send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == _CONTENT_LENGTH:
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    response = error_response(
        Request(scope),
        413,
        "resource_exhausted",
        f"request body is over the limit of {limit} bytes for {scope['method']} {scope['path']}",
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)


class NulCharacterMiddleware:
    """Refuse a request whose path or query string holds a NUL character (422)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] == "http":
            problem = _nul_problem(scope)
            if problem is not None:
                response = error_response(Request(scope), 422, "invalid_argument", problem)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _nul_problem(scope: Scope) -> str | None:
    """What names the NUL character of ``scope``'s path or query, or ``None``."""
    if "\x00" in scope["path"]:
        return f"path: NUL characters are not allowed (got {scope['path']!r})"
    raw: bytes = scope.get("query_string", b"")
    if b"%00" not in raw and b"\x00" not in raw:
        return None
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8")
    for name, value in pairs:
        if "\x00" in name:
            return f"query: a parameter name holds a NUL character (got {name!r})"
        if "\x00" in value:
            return f"query.{name}: NUL characters are not allowed (got {value!r})"
    return None


__all__ = [
    "UPLOAD_ROUTE",
    "BodySizeLimitMiddleware",
    "BodyTooLargeError",
    "NulCharacterMiddleware",
]
