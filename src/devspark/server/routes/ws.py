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
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from devspark.core.errors import DevSparkError, PermissionDeniedError, UnauthenticatedError
from devspark.server.auth import API_KEY_HEADER
from devspark.server.live import LiveHub, Subscription, parse_topic
from devspark.services import accounts
from devspark.services.accounts import TokenService
from devspark.store.models import UserRow

router = APIRouter(tags=["live"])

CLOSE_UNAUTHENTICATED = 4401
"""Close code for missing or bad credentials (4000 + HTTP 401)."""
CLOSE_FORBIDDEN = 4403
"""Close code for a disabled account (4000 + HTTP 403)."""
AUTH_TIMEOUT_S = 10.0
"""How long the server waits for the ``auth`` message when no credentials came along."""
API_KEY_PREFIX = "dsk_"


@dataclass(frozen=True, slots=True)
class WsIdentity:
    """Who opened the socket."""

    username: str
    role: str


def _identify(factory: sessionmaker[Session], tokens: TokenService, credential: str) -> WsIdentity:
    """Check a token or API key (blocking; run in a thread)."""
    with factory() as session:
        if credential.startswith(API_KEY_PREFIX):
            identity = accounts.authenticate_api_key(session, credential)
            session.commit()  # keep last_used_at
            user = identity.user
        else:
            claims = tokens.verify_access(credential)
            found = session.get(UserRow, claims.user_id)
            if found is None:
                raise UnauthenticatedError("access token names an account that no longer exists")
            user = found
        if user.disabled:
            raise PermissionDeniedError(f"account {user.username!r} is disabled")
        return WsIdentity(username=user.username, role=str(user.role))


async def _error(websocket: WebSocket, code: str, message: str) -> None:
    await websocket.send_json({"type": "error", "code": code, "message": message})


async def _credential(websocket: WebSocket) -> str | None:
    """The credential sent with the handshake, else in the first message."""
    token = websocket.query_params.get("token")
    if token:
        return token
    key = websocket.headers.get(API_KEY_HEADER)
    if key:
        return key
    try:
        first = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S)
        message = json.loads(first)
    except (TimeoutError, ValueError):
        return None
    if isinstance(message, dict) and message.get("type") == "auth":
        sent = message.get("token")
        return sent if isinstance(sent, str) and sent else None
    return None


async def _authenticate(websocket: WebSocket) -> WsIdentity | None:
    """The caller, or ``None`` after refusing it (error message, then close)."""
    credential = await _credential(websocket)
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
            _identify, app.state.session_factory, app.state.tokens, credential
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
            hub.add_topic(subscription, topic)
        else:
            hub.remove_topic(subscription, topic)
        await websocket.send_json({"type": f"{kind}d", "topic": topic})
        return
    await _error(
        websocket,
        "invalid_argument",
        "expected a message of type 'subscribe', 'unsubscribe' or 'ping'",
    )


async def _receive(
    websocket: WebSocket, hub: LiveHub, subscription: Subscription, done: anyio.CancelScope
) -> None:
    """Answer the client's messages until it leaves, then stop the forwarding too."""
    try:
        while True:
            text = await websocket.receive_text()
            try:
                message = json.loads(text)
            except ValueError:
                await _error(websocket, "invalid_argument", "messages must be JSON objects")
                continue
            await _handle(websocket, hub, subscription, message)
    except (WebSocketDisconnect, RuntimeError):
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
    identity = await _authenticate(websocket)
    if identity is None:
        return
    await websocket.send_json({"type": "welcome", "user": identity.username, "role": identity.role})
    hub: LiveHub = websocket.app.state.live
    subscription = hub.subscribe()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_receive, websocket, hub, subscription, group.cancel_scope)
            group.start_soon(_forward, websocket, subscription, group.cancel_scope)
    finally:
        hub.unsubscribe(subscription)


__all__ = ["CLOSE_FORBIDDEN", "CLOSE_UNAUTHENTICATED", "WsIdentity", "router"]
