"""Errors on the wire: one table from DevSpark error codes to HTTP statuses, one body.

Every error response, whether raised by a service (:class:`DevSparkError`), by FastAPI's
request validation, by routing (unknown path, wrong method) or by a bug, has the body::

    {"error": {"code": "not_found", "message": "...", "correlation_id": "..."}}

``invalid_argument`` maps to 422, the status FastAPI's own validation uses, so a client
sees one status for every malformed request (a body FastAPI or Starlette cannot parse,
which they answer with 400, is turned into the same 422). ``failed_precondition`` maps to 409: the
request is well formed but the resource is not in a state that allows it (412 is left
to HTTP conditional requests). Unhandled exceptions are 500 with a generic message; the
traceback is logged with the correlation id, never sent.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from devspark.core.errors import DevSparkError, ResourceExhaustedError, did_you_mean

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
"""Header carrying the correlation id, in requests (optional) and every response."""

HTTP_STATUS: dict[str, int] = {
    "invalid_argument": 422,
    "not_found": 404,
    "conflict": 409,
    "failed_precondition": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "deadline_exceeded": 504,
    "resource_exhausted": 429,
}
"""HTTP status of each DevSpark error code; any other code is a 500."""

_CODE_OF_STATUS: dict[int, str] = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    408: "deadline_exceeded",
    409: "conflict",
    413: "resource_exhausted",
    422: "invalid_argument",
    429: "resource_exhausted",
    503: "unavailable",
    504: "deadline_exceeded",
}

INTERNAL_MESSAGE = "Internal server error; quote the correlation id when reporting it."


class ErrorDetail(BaseModel):
    """What went wrong.

    Attributes:
        code: Canonical error code (``not_found``, ``invalid_argument``, ...).
        message: Human-readable explanation naming the argument and bad value.
        correlation_id: The request's ``X-Request-ID``, also found in the server logs.

    """

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["Unknown scenario 'tictactoo'. Did you mean 'tictactoe'?"])
    correlation_id: str | None = Field(examples=["3f2c9a7e5b0d4c1e8a6f2b9d7c4e1a05"])


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


def _described(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: _described("Invalid argument: the request or one of its values is malformed."),
    500: _described("Internal error: details are in the server log under the correlation id."),
}
"""OpenAPI responses every route can return (declared on the whole app)."""

NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: _described("Not found: no such resource (the message suggests near names).")
}
"""OpenAPI response for routes that look a resource up by id."""


def status_for(code: str) -> int:
    """Return the HTTP status of a DevSpark error ``code`` (500 when it has none)."""
    return HTTP_STATUS.get(code, 500)


def correlation_id(request: Request) -> str | None:
    """The correlation id the middleware gave ``request`` (``None`` outside it)."""
    value = getattr(request.state, "correlation_id", None)
    return value if isinstance(value, str) else None


def error_response(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build an error response with the standard body and the correlation id header.

    Args:
        request: The failing request.
        status_code: HTTP status.
        code: Canonical error code.
        message: Explanation sent to the client.
        headers: Extra headers (e.g. ``Allow`` for 405). A 401 always gets
            ``WWW-Authenticate: Bearer`` unless ``headers`` names its own.

    Returns:
        The JSON response.

    """
    cid = correlation_id(request)
    body = ErrorBody(error=ErrorDetail(code=code, message=message, correlation_id=cid))
    all_headers = dict(headers or {})
    if status_code == 401 and not any(k.lower() == "www-authenticate" for k in all_headers):
        all_headers["WWW-Authenticate"] = "Bearer"  # RFC 9110: a 401 names its scheme
    if cid is not None:
        all_headers[REQUEST_ID_HEADER] = cid
    return JSONResponse(body.model_dump(), status_code=status_code, headers=all_headers)


async def _devspark_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DevSparkError)
    status = status_for(exc.code)
    if status == 500:
        return await _unhandled(request, exc)
    headers = None
    if isinstance(exc, ResourceExhaustedError) and exc.retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return error_response(request, status, exc.code, str(exc), headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = _body_fields(request)
    problems = [_problem(error, fields) for error in exc.errors()]
    message = "; ".join(problems) or "invalid request"
    return error_response(request, 422, "invalid_argument", message)


def _problem(error: Mapping[str, Any], fields: Sequence[str]) -> str:
    """One pydantic error as ``where: what (got value)``, with a near name when there is one.

    A missing field shows no input (it would be the whole body); an unknown body key
    suggests the field it may have meant; a value outside an enumeration suggests the
    allowed value nearest it.
    """
    loc = tuple(error.get("loc", ()))
    where = ".".join(str(part) for part in loc)
    kind = error.get("type", "")
    problem = f"{where}: {error.get('msg', 'invalid')}"
    given = error.get("input")
    if kind == "missing":
        return problem
    if given is not None:
        problem += f" (got {given!r})"
    if kind == "extra_forbidden" and len(loc) == 2 and loc[0] == "body":
        return problem + did_you_mean(str(loc[1]), fields)
    if kind in ("enum", "literal_error") and isinstance(given, str):
        allowed = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        return problem + did_you_mean(given, allowed)
    return problem


def _body_fields(request: Request) -> list[str]:
    """The field names of the route's JSON body model, when it has one."""
    route = request.scope.get("route")
    body = getattr(route, "body_field", None)
    model = getattr(getattr(body, "field_info", None), "annotation", None)
    names = getattr(model, "model_fields", None)
    return list(names) if isinstance(names, dict) else []


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app accepts on ``request``'s path, sorted.

    Starlette's 405 lists the methods of the first route whose path matched; a path
    served by several routes (``GET`` and ``POST /api/v1/matches``) must list them all.
    Each method is tried against the routes with the public ``matches`` API; mounted
    apps (static files) are skipped, they answer their own 405s.

    Args:
        request: A request that matched a path but none of its routes' methods.

    Returns:
        Upper-case method names.

    """
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI and Starlette answer an unparsable body (broken multipart, ...) with 400;
    # it is a malformed request like any other, so it gets the one status for those.
    status = 422 if exc.status_code == 400 else exc.status_code
    code = _CODE_OF_STATUS.get(status, "http_error")
    headers = dict(exc.headers or {})
    methods = allowed_methods(request) if status == 405 else []
    if methods:
        headers["Allow"] = ", ".join(methods)
        detail = f"{request.method} is not allowed on {request.url.path}; use {headers['Allow']}"
        return error_response(request, status, code, detail, headers=headers)
    return error_response(request, status, code, str(exc.detail), headers=headers)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unhandled error in %s %s (correlation id %s)",
        request.method,
        request.url.path,
        correlation_id(request),
        exc_info=exc,
    )
    return error_response(request, 500, "internal", INTERNAL_MESSAGE)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the standard body.

    Args:
        app: The application to equip.

    """
    app.add_exception_handler(DevSparkError, _devspark_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)
