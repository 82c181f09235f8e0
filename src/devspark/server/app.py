"""Application factory: database on startup, correlation ids, metrics, error handlers.

Run it with ``devspark serve``, or build it yourself::

    from devspark.server.app import create_app
    from devspark.server.settings import Settings

    app = create_app(Settings.from_env())
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devspark.server.apidocs import mount_api_docs
from devspark.server.dashboard import mount_dashboard
from devspark.server.deps import get_session
from devspark.server.errors import ERROR_RESPONSES, REQUEST_ID_HEADER, install_error_handlers
from devspark.server.guards import BodySizeLimitMiddleware, NulCharacterMiddleware
from devspark.server.login_throttle import LoginThrottle
from devspark.server.openapi_doc import document_server_behaviour
from devspark.server.ratelimit import RateLimitMiddleware, RequestLimiter, document_rate_limits
from devspark.server.redaction import install_log_redaction
from devspark.server.routes import (
    agents,
    health,
    instances,
    leaderboards,
    matches,
    scenarios,
    tasks,
    tournaments,
    users,
    workers,
    ws,
)
from devspark.server.routes import auth as auth_routes
from devspark.server.settings import Settings
from devspark.server.work_metrics import WorkCollector
from devspark.services.accounts import DEFAULT_HASHER, TokenService, secret_key
from devspark.services.board_keeper import BoardKeeper
from devspark.services.live import LiveHub
from devspark.services.live_bus import BusBridge
from devspark.store.artifacts import ArtifactStore
from devspark.store.db import make_engine, session_factory, upgrade

TITLE = "DevSpark Playground API"
DESCRIPTION = (
    "Run, evaluate and share AI agents in sandboxes. Errors always have the body "
    '`{"error": {"code", "message", "correlation_id"}}`; lists are paginated with '
    "`offset` and `limit`; every response carries an `X-Request-ID` header."
)
DEV_SECRET_FILE = "dev-secret-key"  # noqa: S105 - a file name, not a secret
"""In development mode without ``DEVSPARK_SECRET_KEY``: the generated key, in the data folder."""
UNMATCHED_ROUTE = "<unmatched>"
"""Route label in metrics for requests that matched no route (keeps label sets small)."""

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def _version() -> str:
    try:
        return metadata.version("devspark")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


class CorrelationIdMiddleware:
    """Give each request a correlation id: the caller's ``X-Request-ID`` or a new one.

    The id is stored as ``request.state.correlation_id`` and echoed in the response
    header. An incoming id longer than 128 characters or with characters outside
    ``[A-Za-z0-9._:-]`` is replaced, so it is safe to log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # A random process prefix and a counter: unique without a syscall per request.
        self._prefix = uuid.uuid4().hex[:16]
        self._counter = itertools.count(1)

    def _next_id(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"")
        text = incoming.decode("latin-1")
        cid = text if _REQUEST_ID.fullmatch(text) else self._next_id()
        scope.setdefault("state", {})["correlation_id"] = cid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != REQUEST_ID_HEADER.lower().encode()
                ]
                headers.append((REQUEST_ID_HEADER.lower().encode(), cid.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class HttpMetrics:
    """Prometheus request count and latency, labelled by method, route template, status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "devspark_http_requests",
            "HTTP requests handled.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "devspark_http_request_duration_seconds",
            "HTTP request latency in seconds.",
            ["method", "route", "status"],
            registry=registry,
        )


class MetricsMiddleware:
    """Record every HTTP request in :class:`HttpMetrics`.

    The route label is the matched path template (``/api/v1/scenarios/{scenario_id}``),
    never the raw path, so label sets stay bounded.
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            labels = (scope["method"], route, str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - start)


@dataclass(frozen=True, slots=True)
class Platform:
    """What a server has set up when it starts, handed to its :data:`Background` work.

    Attributes:
        engine: The database engine (migrated).
        session_factory: Sessions on it.
        live: The live hub WebSocket clients listen to.
        artifacts: Uploaded agents and replays.
        data_dir: The server's data folder.
        settings: The server's settings.

    """

    engine: Engine
    session_factory: sessionmaker[Session]
    live: LiveHub
    artifacts: ArtifactStore
    data_dir: Path
    settings: Settings


Background = Callable[[Platform], AbstractContextManager[object]]
"""Work a server runs beside its API (an embedded worker): entered once the database is
migrated and the live hub bound, left before they close."""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        url = settings.live_bus_url
        bridge = None if url is None else BusBridge(url)
        live = LiveHub(bridge=bridge)
        live.bind(asyncio.get_running_loop())  # worker threads publish onto this loop
        if bridge is not None:  # events of the workers and other servers, and our watches
            await asyncio.to_thread(bridge.start, live.deliver_remote)
        app.state.live = live
        keeper = app.state.boards = BoardKeeper(app.state.session_factory)
        keeper.start()  # the platform boards, refitted in the background
        background: Background | None = app.state.background
        platform = Platform(
            engine=engine,
            session_factory=app.state.session_factory,
            live=live,
            artifacts=app.state.artifacts,
            data_dir=settings.data_dir,
            settings=settings,
        )
        try:
            if background is None:
                yield
            else:
                with background(platform) as app.state.worker:
                    yield
        finally:
            await asyncio.to_thread(keeper.stop)
            if bridge is not None:
                await asyncio.to_thread(bridge.stop)
    finally:
        engine.dispose()


def create_app(
    settings: Settings,
    *,
    tokens: TokenService | None = None,
    hasher: PasswordHasher | None = None,
    background: Background | None = None,
) -> FastAPI:
    """Build the DevSpark API application.

    On startup the database is migrated (``upgrade``), ``app.state.engine`` and
    ``app.state.session_factory`` are set, and ``app.state.live`` (a
    :class:`~devspark.server.live.LiveHub` bound to the server's loop) feeds
    ``/api/v1/ws``, and ``app.state.boards`` (a
    :class:`~devspark.services.board_keeper.BoardKeeper`) refits the platform boards in
    a background thread; on shutdown the engine is disposed. Each app
    has its own Prometheus registry (``app.state.metrics_registry``), token service
    (``app.state.tokens``) and password hasher (``app.state.hasher``).

    Args:
        settings: Server settings (see :meth:`Settings.from_env`).
        tokens: Token service; by default one signing with ``DEVSPARK_SECRET_KEY``
            (required outside development mode, see :func:`secret_key`).
        hasher: Argon2 parameters; :data:`DEFAULT_HASHER` by default (tests pass cheap
            ones).
        background: Work run beside the API, such as an embedded worker
            (:func:`devspark.app.create_app` passes one); ``None``: an API-only server,
            whose matches and tournaments are played by ``devspark worker`` processes.

    Raises:
        FailedPreconditionError: No usable secret key outside development mode.

    Returns:
        The application, ready for uvicorn or a test client.

    """
    app = FastAPI(
        title=TITLE,
        version=_version(),
        description=DESCRIPTION,
        lifespan=_lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,  # served from local files by mount_api_docs, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.background = background
    app.state.worker = None
    app.state.tokens = tokens or TokenService(
        secret_key(settings.dev_mode, key_file=settings.data_dir / DEV_SECRET_FILE)
    )
    app.state.hasher = hasher or DEFAULT_HASHER
    app.state.artifacts = ArtifactStore(settings.data_dir / "artifacts")
    app.state.workdir = settings.data_dir / "work" / "registry"
    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    registry.register(WorkCollector(app.state))  # queue, durations, per worker: read at scrape
    install_log_redaction()  # ?token=... never reaches uvicorn's request log
    install_error_handlers(app)
    # Innermost: refused bodies (413) and NUL characters (422) before any route reads.
    app.add_middleware(NulCharacterMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body=settings.max_body_bytes,
        max_upload=settings.max_upload_bytes,
    )
    # Then rate limits: a 429 is counted by metrics and carries the correlation id.
    limiter = RequestLimiter.from_settings(settings, app.state.tokens)
    app.state.login_throttle = LoginThrottle(limiter.storage)  # same counters store
    app.state.rate_limiter = limiter  # the WebSocket's connect and message limits too
    app.add_middleware(RateLimitMiddleware, limiter=limiter)
    document_rate_limits(app)
    document_server_behaviour(app)  # public GETs, 413: the document says what happens
    # Added last = outermost: the correlation id exists before metrics and handlers run.
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry))
    app.add_middleware(CorrelationIdMiddleware)
    app.include_router(health.router)
    app.include_router(scenarios.router)
    app.include_router(agents.router)
    app.include_router(auth_routes.router)
    app.include_router(users.router)
    app.include_router(tournaments.router)
    app.include_router(matches.router)
    app.include_router(leaderboards.router)
    app.include_router(workers.router)
    app.include_router(instances.router)
    app.include_router(tasks.router)
    app.include_router(ws.router)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Metrics."}},
    )
    def metrics() -> Response:
        """Request counts and latencies in the Prometheus text format."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    mount_api_docs(app)
    mount_dashboard(app)
    return app


__all__ = ["Background", "Platform", "create_app", "get_session"]
