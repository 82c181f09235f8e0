"""Liveness and readiness probes: ``/healthz`` and ``/readyz``."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from devspark.server.errors import ErrorBody, error_response
from devspark.services.health import database_problem

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class HealthStatus(BaseModel):
    """A probe's answer."""

    status: Literal["ok"] = "ok"


@router.get("/healthz", summary="Liveness probe")
async def healthz() -> HealthStatus:
    """The process is up and serving requests."""
    return HealthStatus()


@router.get(
    "/readyz",
    summary="Readiness probe",
    response_model=HealthStatus,
    responses={503: {"model": ErrorBody, "description": "The database is not reachable."}},
)
def readyz(request: Request) -> HealthStatus | JSONResponse:
    """The server can do work: the database answers ``SELECT 1``."""
    problem = database_problem(request.app.state.engine)
    if problem is not None:
        logger.warning("readiness check failed: %s", problem)
        return error_response(request, 503, "unavailable", "database is not reachable")
    return HealthStatus()
