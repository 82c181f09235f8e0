"""Make the OpenAPI document say what the server does, in the places FastAPI cannot.

:func:`document_server_behaviour` wraps ``app.openapi`` and, for every operation:

* **optional credentials**: a route that reads the caller through
  :func:`~devspark.server.auth.optional_actor` but never requires one
  (:func:`~devspark.server.auth.current_actor`) is public; FastAPI still lists its
  security schemes as requirements. Such operations get the empty requirement ``{}``
  too, which OpenAPI reads as "anonymous calls are allowed", and a **401**: credentials
  that are sent must be valid (a revoked or expired token is refused, not ignored).
* **413** and **408**: every operation with a request body may be refused for its size,
  or for a body that does not arrive in time (:mod:`devspark.server.guards`).

Run it after the routers are included (it reads the routes when the document is first
built) and before anything caches the document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from devspark.server.auth import current_actor, optional_actor

BAD_CREDENTIALS_DESCRIPTION = (
    "Unauthenticated: credentials were sent but are not valid (expired, revoked or "
    "malformed). Send none to read anonymously."
)

BODY_TOO_LARGE_DESCRIPTION = (
    "Resource exhausted: the request body is over the server's size cap "
    "(`DEVSPARK_MAX_BODY_BYTES`, or `DEVSPARK_MAX_UPLOAD_BYTES` for agent uploads)."
)
"""OpenAPI description of the 413 response of every operation with a body."""

BODY_LATE_DESCRIPTION = (
    "Deadline exceeded: the request body did not arrive in time (30 s, 300 s for agent "
    "uploads); the connection is closed."
)
"""OpenAPI description of the 408 response of every operation with a body."""


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """The API routes of ``routes``, those of included routers too.

    FastAPI 0.16x nests included routes in a wrapper that keeps the router as
    ``original_router``.
    """
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
            continue
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def public_operations(app: FastAPI) -> set[tuple[str, str]]:
    """``(path, method)`` of the operations that accept anonymous callers.

    Args:
        app: The application.

    Returns:
        Lower-case methods, as in the OpenAPI document.

    """
    public: set[tuple[str, str]] = set()
    for route in _api_routes(app.routes):
        if not route.include_in_schema:
            continue
        calls = set(_calls(route.dependant))
        if optional_actor in calls and current_actor not in calls:
            public.update((route.path_format, method.lower()) for method in route.methods or ())
    return public


def document_server_behaviour(app: FastAPI) -> None:
    """Extend ``app``'s OpenAPI document with optional auth and the 413 and 408 responses.

    Args:
        app: The application (routers already included).

    """
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = original()
        public = public_operations(app)
        error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        too_large = {"description": BODY_TOO_LARGE_DESCRIPTION, "content": error_body}
        late = {"description": BODY_LATE_DESCRIPTION, "content": error_body}
        refused = {"description": BAD_CREDENTIALS_DESCRIPTION, "content": error_body}
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                security = operation.get("security")
                if (path, method) in public and security and {} not in security:
                    security.append({})
                if (path, method) in public:
                    operation.setdefault("responses", {}).setdefault("401", refused)
                if "requestBody" in operation:
                    operation.setdefault("responses", {}).setdefault("413", too_large)
                    operation["responses"].setdefault("408", late)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = [
    "BAD_CREDENTIALS_DESCRIPTION",
    "BODY_LATE_DESCRIPTION",
    "BODY_TOO_LARGE_DESCRIPTION",
    "document_server_behaviour",
    "public_operations",
]
