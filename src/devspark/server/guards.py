"""Requests refused at the door, before any route runs: oversized bodies, NUL characters.

:class:`BodySizeLimitMiddleware` caps request bodies: a declared ``Content-Length`` over
the cap is refused with 413 before a byte of the body is read; a body without one
(chunked) is counted as the app reads it, and the read that crosses the cap ends the
request with 413 (whatever the app was about to answer). Agent uploads
(:data:`UPLOAD_ROUTE`) get their own, larger cap. A body must also arrive in time: one
still incomplete :data:`BODY_DEADLINE_S` seconds after the app started reading it
(:data:`UPLOAD_DEADLINE_S` for an upload) ends the request with 408 and closes the
connection, so a client trickling a body (slowloris) cannot hold connections forever.

:class:`NulCharacterMiddleware` refuses a query string or path holding a NUL character
(``%00``) with 422 naming the parameter: PostgreSQL cannot store or compare NUL in text,
so such a filter would otherwise fail deep in the database driver.

Both answer with the standard error body (:func:`devspark.server.errors.error_response`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devspark.server.errors import error_response

UPLOAD_ROUTE = re.compile(r"/api/v1/agents(?:/[^/]+)?")
"""Paths whose ``POST``/``PUT`` carry an agent archive (the upload cap applies)."""

BODY_DEADLINE_S = 30.0
"""Seconds a request body (at most the 1 MiB general cap) may take to arrive."""

UPLOAD_DEADLINE_S = 300.0
"""Seconds an agent upload's body may take to arrive (16 MiB at about 55 KB/s)."""

_UPLOAD_METHODS = frozenset({"POST", "PUT"})
_CONTENT_LENGTH = b"content-length"


class BodyTooLargeError(Exception):
    """Raised into the app by the limited ``receive`` when the body crosses the cap."""


class BodyTimeoutError(Exception):
    """Raised into the app by the limited ``receive`` when the body is late."""


class BodySizeLimitMiddleware:
    """Refuse request bodies over a cap (413) or later than a deadline (408).

    Args:
        app: The wrapped application.
        max_body: Cap of every body but agent uploads, in bytes.
        max_upload: Cap of ``POST``/``PUT`` bodies on :data:`UPLOAD_ROUTE`.
        body_deadline: Seconds for a body to arrive (default :data:`BODY_DEADLINE_S`).
        upload_deadline: Seconds for an upload (default :data:`UPLOAD_DEADLINE_S`).

    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_upload: int,
        body_deadline: float | None = None,
        upload_deadline: float | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.body_deadline = BODY_DEADLINE_S if body_deadline is None else body_deadline
        self.upload_deadline = UPLOAD_DEADLINE_S if upload_deadline is None else upload_deadline

    def limit_for(self, method: str, path: str) -> int:
        """The cap of a request's body, in bytes."""
        return self.max_upload if _is_upload(method, path) else self.max_body

    def deadline_for(self, method: str, path: str) -> float:
        """Seconds a request's body may take to arrive once the app reads it."""
        return self.upload_deadline if _is_upload(method, path) else self.body_deadline

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
        body = _LimitedBody(receive, limit, self.deadline_for(scope["method"], scope["path"]))
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if body.refused is not None:
                return  # whatever the app answers to the aborted read, the refusal answers
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(BodyTooLargeError, BodyTimeoutError):  # answered below
            await self.app(scope, body.receive, guarded_send)
        if body.refused is BodyTooLargeError and not started:
            await _refuse(scope, receive, send, limit)
        elif body.refused is BodyTimeoutError and not started:
            await _late(scope, receive, send, body.deadline)


class _LimitedBody:
    """The ``receive`` of one request, counting its body and timing it until complete."""

    def __init__(self, receive: Receive, limit: int, deadline: float) -> None:
        self._receive = receive
        self.limit = limit
        self.deadline = deadline
        self.received = 0
        self.complete = False
        self.refused: type[Exception] | None = None
        self._ends_at: float | None = None

    async def receive(self) -> Message:
        """The next message; raises when the body crosses the cap or the deadline."""
        if self.complete:
            return await self._receive()  # e.g. waiting for a disconnect: not timed
        loop = asyncio.get_running_loop()
        if self._ends_at is None:
            self._ends_at = loop.time() + self.deadline
        try:
            message = await asyncio.wait_for(self._receive(), self._ends_at - loop.time())
        except TimeoutError:
            self.refused = BodyTimeoutError
            raise BodyTimeoutError from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = BodyTooLargeError
                raise BodyTooLargeError
            self.complete = not message.get("more_body", False)
        return message


def _is_upload(method: str, path: str) -> bool:
    return method in _UPLOAD_METHODS and UPLOAD_ROUTE.fullmatch(path) is not None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == _CONTENT_LENGTH:
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    what = f"request body is over the limit of {limit} bytes"
    await _close_with(scope, receive, send, 413, "resource_exhausted", what)


async def _late(scope: Scope, receive: Receive, send: Send, deadline: float) -> None:
    what = f"request body did not arrive within {deadline:g} s"
    await _close_with(scope, receive, send, 408, "deadline_exceeded", what)


async def _close_with(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, what: str
) -> None:
    """Answer with the standard error body and close the connection (the body is unread)."""
    message = f"{what} for {scope['method']} {scope['path']}"
    response = error_response(
        Request(scope), status, code, message, headers={"Connection": "close"}
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
