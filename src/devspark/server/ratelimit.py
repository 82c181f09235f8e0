"""Rate limits per authenticated caller and per client IP (the ``limits`` library).

Every API request (paths under :data:`LIMITED_PREFIX`; the dashboard's page and
static files are not limited) except the probes and metrics (:data:`EXEMPT_PATHS`)
counts against
the limit of its client IP; a request with credentials also counts against the limit of
its caller, whatever IP it comes from. The caller is read without a database lookup: a
bearer access token by its verified subject (``user:<id>``), an API key by a digest of
the key itself (``key:<sha256>``); bad tokens count only against the IP.

Counters use fixed windows (one increment per limit and request) in process memory, or
in Redis when ``DEVSPARK_REDIS_URL`` is set, so that several server processes share
them. A request over a limit gets ``429`` with the standard error body (code
``resource_exhausted``) and ``Retry-After``; every limited response carries
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds until
the window resets) for the tightest limit that applied. When the storage fails (Redis
down) the request is let through and the failure logged: a broken counter must not take
the API down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import limits
from fastapi import FastAPI, Request
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devspark.core.errors import DevSparkError, InvalidArgumentError
from devspark.server.auth import API_KEY_HEADER
from devspark.server.errors import error_response
from devspark.server.settings import RATE_LIMIT_OFF, Settings
from devspark.services.accounts import TokenService

logger = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Paths never limited (probes and Prometheus must always answer)."""

LIMITED_PREFIX = "/api/"
"""Only paths under this prefix are limited: a dashboard page load fetches ~20 static
files, which must not eat the API allowance of its IP."""

MEMORY_STORAGE = "async+memory://"
"""The ``limits`` storage URI used when no Redis URL is configured."""

RATE_LIMIT_DESCRIPTION = (
    "Resource exhausted: a rate limit is used up; retry after `Retry-After` seconds."
)
"""OpenAPI description of the 429 response of every rate-limited operation."""

_AUTHORIZATION = b"authorization"
_API_KEY = API_KEY_HEADER.lower().encode()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of counting one request.

    Attributes:
        allowed: Whether the request may proceed.
        limit: Requests allowed per window by the tightest limit that applied.
        remaining: Requests left in that window.
        reset_in: Seconds until that window resets.
        scope: ``"user"`` or ``"ip"``: which limit it was.

    """

    allowed: bool
    limit: int
    remaining: int
    reset_in: int
    scope: str

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The ``X-RateLimit-*`` headers (plus ``Retry-After`` when refused)."""
        pairs = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_in).encode()),
        ]
        if not self.allowed:
            pairs.append((b"retry-after", str(self.reset_in).encode()))
        return pairs


def storage_uri(redis_url: str | None) -> str:
    """The ``limits`` async storage URI for ``redis_url`` (memory when ``None``).

    Args:
        redis_url: ``redis://``, ``rediss://`` or ``unix://`` URL, or ``None``.

    Returns:
        ``"async+redis://..."`` (or ``async+rediss``/``async+redis+unix``), or
        :data:`MEMORY_STORAGE`.

    """
    if redis_url is None:
        return MEMORY_STORAGE
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


def _parse(value: str) -> limits.RateLimitItem | None:
    return None if value == RATE_LIMIT_OFF else limits.parse(value)


class RequestLimiter:
    """Counts requests per caller and per IP in a ``limits`` storage.

    Args:
        per_user: Limit per authenticated caller (``"120/minute"``), or ``"off"``.
        per_ip: Limit per client IP, or ``"off"``.
        tokens: Verifies bearer tokens to name their user.
        storage: ``limits`` async storage URI (:func:`storage_uri`).
        namespace: Key prefix in the storage, so that apps sharing a Redis can keep
            apart (tests use a random one).

    Raises:
        ValueError: A limit string ``limits`` cannot parse.
        InvalidArgumentError: ``storage`` names no async ``limits`` storage.

    """

    def __init__(
        self,
        *,
        per_user: str,
        per_ip: str,
        tokens: TokenService,
        storage: str = MEMORY_STORAGE,
        namespace: str = "devspark",
    ) -> None:
        self.per_user = _parse(per_user)
        self.per_ip = _parse(per_ip)
        self.tokens = tokens
        options: dict[str, Any] = {"wrap_exceptions": True}
        if storage.startswith("async+redis"):
            options["implementation"] = "redispy"  # redis-py is installed; coredis is not
        built = storage_from_string(storage, **options)
        if not isinstance(built, Storage):
            raise InvalidArgumentError(f"rate limit storage {storage!r} is not an async storage")
        self.storage = built
        self.strategy = FixedWindowRateLimiter(self.storage)
        self.namespace = namespace

    @classmethod
    def from_settings(cls, settings: Settings, tokens: TokenService) -> RequestLimiter:
        """Build the limiter the settings describe."""
        return cls(
            per_user=settings.rate_limit,
            per_ip=settings.rate_limit_ip,
            tokens=tokens,
            storage=storage_uri(settings.redis_url),
        )

    def caller(self, authorization: str | None, api_key: str | None) -> str | None:
        """The caller's identity for its limit, or ``None`` for an anonymous request.

        Args:
            authorization: The ``Authorization`` header, if any.
            api_key: The ``X-API-Key`` header, if any.

        Returns:
            ``"user:<id>"`` for a valid bearer token, ``"key:<digest>"`` for an API key.

        """
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token:
                try:
                    return f"user:{self.tokens.verify_access(token.strip()).user_id}"
                except DevSparkError:
                    return None
            return None
        if api_key:
            return "key:" + hashlib.sha256(api_key.strip().encode()).hexdigest()[:32]
        return None

    async def count(self, *, ip: str, caller: str | None) -> Verdict | None:
        """Count one request against the limits that apply.

        Args:
            ip: The client address.
            caller: The identity from :meth:`caller`.

        Returns:
            The verdict of the tightest limit (the refusing one, if any), or ``None``
            when no limit applies.

        Raises:
            StorageError: The storage failed.

        """
        checks: list[tuple[limits.RateLimitItem, str, str]] = []
        if caller is not None and self.per_user is not None:
            checks.append((self.per_user, "user", caller))
        if self.per_ip is not None:
            checks.append((self.per_ip, "ip", ip))
        tightest: Verdict | None = None
        for item, kind, identity in checks:
            verdict = await self.hit(item, kind, identity)
            if not verdict.allowed:
                return verdict
            if tightest is None or verdict.remaining < tightest.remaining:
                tightest = verdict
        return tightest

    async def hit(self, item: limits.RateLimitItem, kind: str, identity: str) -> Verdict:
        """Count one event against ``item`` for ``identity`` in the shared storage.

        Other limits than the request limits (the WebSocket's connects and messages) use
        it, so they live in the same storage (memory or Redis) and namespace.

        Args:
            item: The limit.
            kind: What is counted (``"ip"``, ``"ws-connect"``, ...): part of the key.
            identity: Who is counted (an IP, a connection id).

        Returns:
            The verdict (``scope`` is ``kind``).

        Raises:
            StorageError: The storage failed.

        """
        allowed = await self.strategy.hit(item, self.namespace, kind, identity)
        stats = await self.strategy.get_window_stats(item, self.namespace, kind, identity)
        return Verdict(
            allowed=allowed,
            limit=item.amount,
            remaining=stats.remaining,
            reset_in=max(1, math.ceil(stats.reset_time - time.time())),
            scope=kind,
        )


class RateLimitMiddleware:
    """ASGI middleware applying a :class:`RequestLimiter` to every HTTP request.

    Install it inside the correlation-id middleware so a 429 carries ``X-Request-ID``.
    """

    def __init__(self, app: ASGIApp, limiter: RequestLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        path = scope["path"] if scope["type"] == "http" else ""
        if not path.startswith(LIMITED_PREFIX) or path in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        authorization = api_key = None
        for name, value in scope["headers"]:
            if name == _AUTHORIZATION:
                authorization = value.decode("latin-1")
            elif name == _API_KEY:
                api_key = value.decode("latin-1")
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        try:
            verdict = await self.limiter.count(
                ip=ip, caller=self.limiter.caller(authorization, api_key)
            )
        except StorageError as exc:
            logger.warning("rate limit storage failed, request let through: %s", exc)
            verdict = None
        if verdict is None:
            await self.app(scope, receive, send)
            return
        if not verdict.allowed:
            await self._refuse(scope, receive, send, verdict)
            return
        extra = verdict.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, verdict: Verdict) -> None:
        limit = self.limiter.per_user if verdict.scope == "user" else self.limiter.per_ip
        message = (
            f"rate limit of {limit} per {'caller' if verdict.scope == 'user' else 'client IP'} "
            f"exceeded; retry in {verdict.reset_in} s"
        )
        headers = {k.decode(): v.decode() for k, v in verdict.headers()}
        response = error_response(
            Request(scope), 429, "resource_exhausted", message, headers=headers
        )
        await response(scope, receive, send)


def document_rate_limits(app: FastAPI) -> None:
    """Declare the 429 response on every operation that is rate limited.

    Wraps ``app.openapi`` so the generated document lists :data:`RATE_LIMIT_RESPONSE`
    (the :class:`~devspark.server.errors.ErrorBody` schema) for every path but
    :data:`EXEMPT_PATHS`.

    Args:
        app: The application whose OpenAPI document to extend.

    """
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = original()
        body = {
            "description": RATE_LIMIT_DESCRIPTION,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for path, operations in document.get("paths", {}).items():
            if path in EXEMPT_PATHS:
                continue
            for operation in operations.values():
                operation.setdefault("responses", {}).setdefault("429", body)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = [
    "EXEMPT_PATHS",
    "LIMITED_PREFIX",
    "MEMORY_STORAGE",
    "RATE_LIMIT_DESCRIPTION",
    "RateLimitMiddleware",
    "RequestLimiter",
    "Verdict",
    "document_rate_limits",
    "storage_uri",
]
