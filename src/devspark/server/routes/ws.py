"""``GET /api/v1/ws``: live tournament progress and match events over a WebSocket.

Protocol (JSON text frames):

1. Authenticate with ``?token=<access JWT>``, an ``X-API-Key`` header, or a first
   message ``{"type": "auth", "token": "<access JWT or dsk_... key>"}``. The server
   answers ``{"type": "welcome", "user": ..., "role": ...}``; bad or missing credentials
   get ``{"type": "error", "code": "unauthenticated", ...}`` and close code 4401.
2. ``{"type": "subscribe", "topic": "tournament:<id>"}`` (or ``match:<id>``) is
   answered ``{"type": "subscribed", "topic": ...}``; ``unsubscribe`` likewise;
   ``{"type": "ping"}`` is answered ``{"type": "pong"}``.
3. Events arrive as ``{"topic": ..., "type": ..., ...}``. A client that reads too slowly
   loses events, and is told so by ``{"type": "dropped", "count": n}``.

Errors a client can recover from (a message that is not JSON, nested too deeply, of an
unknown type, a bad topic, one topic more than :data:`~devspark.server.live.DEFAULT_MAX_TOPICS`)
get ``{"type": "error", "code": ..., "message": ...}`` and the socket stays open. Abuse
closes it, after the same error message: a binary frame (1003, unsupported data), a
message over :data:`MAX_MESSAGE_CHARS` (1009, too big), connecting or sending faster
than the limits allow (:data:`CLOSE_RATE_LIMITED`, with ``retry_after`` seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

import anyio
import limits
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from limits.errors import StorageError
from starlette.concurrency import run_in_threadpool
from starlette.types import Message

from devspark.core.errors import (
    DevSparkError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
)
from devspark.server.auth import API_KEY_HEADER
from devspark.server.ratelimit import RequestLimiter
from devspark.server.settings import RATE_LIMIT_OFF, Settings
from devspark.services.identity import Identity, identify
from devspark.services.live import LiveHub, Subscription, parse_topic

logger = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

CLOSE_UNAUTHENTICATED = 4401
"""Close code for missing or bad credentials (4000 + HTTP 401)."""
CLOSE_FORBIDDEN = 4403
"""Close code for a disabled account (4000 + HTTP 403)."""
CLOSE_RATE_LIMITED = 4429
"""Close code for too many connects from one IP or messages on one socket (4000 + 429)."""
CLOSE_UNSUPPORTED_DATA = 1003
"""RFC 6455 close code for a binary frame: the protocol is JSON text frames."""
CLOSE_TOO_BIG = 1009
"""RFC 6455 close code for a message over :data:`MAX_MESSAGE_CHARS`."""
MAX_MESSAGE_CHARS = 4096
"""Longest client message accepted (a subscribe is under 100 characters)."""
AUTH_TIMEOUT_S = 10.0
"""How long the server waits for the ``auth`` message when no credentials came along."""


WsIdentity = Identity
"""Who opened the socket (the account a credential names)."""


async def _error(websocket: WebSocket, code: str, message: str, **extra: Any) -> None:
    await websocket.send_json({"type": "error", "code": code, "message": message, **extra})


class RefusalError(Exception):
    """Ends a connection: the error message to send, then the close code."""

    def __init__(self, close_code: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.code = code
        self.extra = extra

    async def send(self, websocket: WebSocket) -> None:
        """Send the error message, then close the socket with :attr:`close_code`."""
        await _error(websocket, self.code, str(self), **self.extra)
        await websocket.close(self.close_code)


class WsLimits:
    """The connect and message rate limits of the live socket (shared limiter storage).

    Args:
        limiter: The server's request limiter (its storage and strategy are reused).
        connects: Connects allowed per client IP (a ``limits`` string, or ``"off"``).
        messages: Messages allowed per connection.

    """

    def __init__(self, limiter: RequestLimiter | None, connects: str, messages: str) -> None:
        self.limiter = limiter
        self.connects = None if connects == RATE_LIMIT_OFF else limits.parse(connects)
        self.messages = None if messages == RATE_LIMIT_OFF else limits.parse(messages)

    @classmethod
    def of(cls, websocket: WebSocket) -> WsLimits:
        """The limits of the app serving ``websocket``."""
        state = websocket.app.state
        settings: Settings = state.settings
        limiter: RequestLimiter | None = getattr(state, "rate_limiter", None)
        return cls(limiter, settings.ws_connect_limit, settings.ws_message_limit)

    async def check(self, kind: str, identity: str, what: str) -> None:
        """Count one connect or message; raise :class:`RefusalError` when over its limit."""
        item = self.connects if kind == "ws-connect" else self.messages
        if item is None or self.limiter is None:
            return
        try:
            verdict = await self.limiter.hit(item, kind, identity)
        except StorageError as exc:  # a broken counter must not take live events down
            logger.warning("WebSocket rate limit storage failed, let through: %s", exc)
            return
        if not verdict.allowed:
            raise RefusalError(
                CLOSE_RATE_LIMITED,
                ResourceExhaustedError.code,
                f"rate limit of {item} {what} exceeded; retry in {verdict.reset_in} s",
                retry_after=verdict.reset_in,
            )


async def _credential(websocket: WebSocket) -> str | None:
    """The credential sent with the handshake, else in the first message."""
    token = websocket.query_params.get("token")
    if token:
        return token
    key = websocket.headers.get(API_KEY_HEADER)
    if key:
        return key
    try:
        frame = await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT_S)
        if frame["type"] == "websocket.disconnect":
            return None
        message = json.loads(_text_of(frame))  # a binary frame: RefusalError (1003)
    except (TimeoutError, ValueError, RecursionError):
        return None
    if isinstance(message, dict) and message.get("type") == "auth":
        sent = message.get("token")
        return sent if isinstance(sent, str) and sent else None
    return None


async def _authenticate(websocket: WebSocket) -> WsIdentity | None:
    """The caller, or ``None`` after refusing it (error message, then close)."""
    try:
        credential = await _credential(websocket)
    except RefusalError as refusal:
        await refusal.send(websocket)
        return None
    if credential is None:
        await _error(
            websocket,
            UnauthenticatedError.code,
            "authentication required: pass ?token=<access token>, an X-API-Key header, "
            'or send {"type": "auth", "token": ...} first',
        )
        await websocket.close(CLOSE_UNAUTHENTICATED)
        return None
    app = websocket.app
    try:
        return await run_in_threadpool(
            identify, app.state.session_factory, app.state.tokens, credential
        )
    except UnauthenticatedError as exc:
        await _error(websocket, exc.code, str(exc))
        await websocket.close(CLOSE_UNAUTHENTICATED)
    except PermissionDeniedError as exc:
        await _error(websocket, exc.code, str(exc))
        await websocket.close(CLOSE_FORBIDDEN)
    except DevSparkError as exc:  # e.g. a malformed key
        await _error(websocket, UnauthenticatedError.code, str(exc))
        await websocket.close(CLOSE_UNAUTHENTICATED)
    return None


async def _handle(
    websocket: WebSocket, hub: LiveHub, subscription: Subscription, message: Any
) -> None:
    """Answer one client message."""
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "ping":
        await websocket.send_json({"type": "pong"})
        return
    if kind in ("subscribe", "unsubscribe"):
        raw = message.get("topic")
        try:
            topic = parse_topic(raw if isinstance(raw, str) else "")
        except ValueError as exc:
            await _error(websocket, "invalid_argument", str(exc))
            return
        if kind == "subscribe":
            try:
                hub.add_topic(subscription, topic)
            except ResourceExhaustedError as exc:  # the cap: the socket stays usable
                await _error(websocket, exc.code, str(exc), limit=hub.max_topics)
                return
        else:
            hub.remove_topic(subscription, topic)
        await websocket.send_json({"type": f"{kind}d", "topic": topic})
        return
    await _error(
        websocket,
        "invalid_argument",
        "expected a message of type 'subscribe', 'unsubscribe' or 'ping'",
    )


def _text_of(frame: Message) -> str:
    """The text of a received frame; :class:`RefusalError` for binary or oversized ones."""
    text = frame.get("text")
    if text is None:
        raise RefusalError(
            CLOSE_UNSUPPORTED_DATA,
            "invalid_argument",
            "binary frames are not supported: send JSON text frames",
        )
    if len(text) > MAX_MESSAGE_CHARS:
        raise RefusalError(
            CLOSE_TOO_BIG,
            "invalid_argument",
            f"message of {len(text)} characters is over the limit of {MAX_MESSAGE_CHARS}",
        )
    return str(text)


async def _receive(
    websocket: WebSocket,
    hub: LiveHub,
    subscription: Subscription,
    done: anyio.CancelScope,
    guard: WsLimits,
) -> None:
    """Answer the client's messages until it leaves, then stop the forwarding too."""
    connection = uuid.uuid4().hex
    try:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            await guard.check("ws-message", connection, "messages per connection")
            text = _text_of(frame)
            try:
                message = json.loads(text)
            except RecursionError:
                await _error(websocket, "invalid_argument", "message nests too deeply")
                continue
            except ValueError:
                await _error(websocket, "invalid_argument", "messages must be JSON objects")
                continue
            await _handle(websocket, hub, subscription, message)
    except RefusalError as refusal:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await refusal.send(websocket)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        done.cancel()


async def _forward(
    websocket: WebSocket, subscription: Subscription, done: anyio.CancelScope
) -> None:
    """Send the subscription's events until the socket closes."""
    try:
        while True:
            await websocket.send_json(await subscription.get())
    except (WebSocketDisconnect, RuntimeError):
        done.cancel()


@router.websocket("/api/v1/ws")
async def live_events(websocket: WebSocket) -> None:
    """Authenticate, then forward the events of the topics the client subscribes to."""
    await websocket.accept()
    guard = WsLimits.of(websocket)
    client = websocket.client
    try:
        await guard.check("ws-connect", client.host if client else "unknown", "connects per IP")
    except RefusalError as refusal:
        await refusal.send(websocket)
        return
    identity = await _authenticate(websocket)
    if identity is None:
        return
    await websocket.send_json({"type": "welcome", "user": identity.username, "role": identity.role})
    hub: LiveHub = websocket.app.state.live
    subscription = hub.subscribe()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_receive, websocket, hub, subscription, group.cancel_scope, guard)
            group.start_soon(_forward, websocket, subscription, group.cancel_scope)
    finally:
        hub.unsubscribe(subscription)


__all__ = [
    "CLOSE_FORBIDDEN",
    "CLOSE_RATE_LIMITED",
    "CLOSE_TOO_BIG",
    "CLOSE_UNAUTHENTICATED",
    "CLOSE_UNSUPPORTED_DATA",
    "MAX_MESSAGE_CHARS",
    "WsIdentity",
    "WsLimits",
    "router",
]
