"""Every error on the wire has one body; DevSpark codes map to HTTP statuses in one table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from devspark.app import create_app
from devspark.core.errors import (
    ConflictError,
    DeadlineExceededError,
    DevSparkError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from devspark.server.errors import HTTP_STATUS, INTERNAL_MESSAGE, status_for
from devspark.server.settings import Settings

SECRET = "db password is hunter2"


class UnauthenticatedError(DevSparkError):
    """Stands in for the accounts service's error until it lands."""

    code: ClassVar[str] = "unauthenticated"


ERRORS: dict[str, tuple[type[DevSparkError], int]] = {
    "invalid_argument": (InvalidArgumentError, 422),
    "not_found": (NotFoundError, 404),
    "conflict": (ConflictError, 409),
    "failed_precondition": (FailedPreconditionError, 409),
    "permission_denied": (PermissionDeniedError, 403),
    "unauthenticated": (UnauthenticatedError, 401),
    "deadline_exceeded": (DeadlineExceededError, 504),
}


class Item(BaseModel):
    name: str
    size: int


def _app(tmp_path: Path, environ: dict[str, str]) -> FastAPI:
    app = create_app(Settings.from_env(data_dir=tmp_path, environ=environ))

    @app.get("/test/raise/{code}")
    def raise_code(code: str) -> None:
        raise ERRORS[code][0](f"thing={code!r} went wrong")

    @app.get("/test/internal")
    def raise_internal() -> None:
        raise DevSparkError(SECRET)

    @app.get("/test/crash")
    def crash() -> None:
        raise RuntimeError(SECRET)

    @app.post("/test/items")
    def create(item: Item) -> Item:
        return item

    return app


@pytest.fixture
def client(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[TestClient]:
    app = _app(tmp_path, server_environ)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_the_table_covers_every_core_error_code() -> None:
    core_codes = {cls.code for cls, _ in ERRORS.values()} - {"unauthenticated"}
    assert core_codes <= set(HTTP_STATUS)
    assert status_for("internal") == 500
    assert status_for("no_such_code") == 500


@pytest.mark.parametrize(("code", "expected"), [(c, s) for c, (_, s) in ERRORS.items()])
def test_devspark_errors_map_to_their_status(client: TestClient, code: str, expected: int) -> None:
    response = client.get(f"/test/raise/{code}", headers={"X-Request-ID": "req-1"})
    assert response.status_code == expected
    assert response.json() == {
        "error": {
            "code": code,
            "message": f"thing={code!r} went wrong",
            "correlation_id": "req-1",
        }
    }
    assert response.headers["X-Request-ID"] == "req-1"


def test_validation_errors_use_the_same_body(client: TestClient) -> None:
    response = client.post("/test/items", json={"name": "x", "size": "big"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    assert "body.size" in error["message"] and "'big'" in error["message"]
    assert error["correlation_id"] == response.headers["X-Request-ID"]


def test_missing_body_is_a_validation_error(client: TestClient) -> None:
    response = client.post("/test/items")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_argument"


def test_routing_errors_use_the_same_body(client: TestClient) -> None:
    missing = client.get("/no/such/path")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = client.delete("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert wrong_method.headers["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/test/crash", "/test/internal"])
def test_unhandled_errors_are_500_without_details(
    client: TestClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    response = client.get(path, headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal", "message": INTERNAL_MESSAGE, "correlation_id": "req-500"}
    }
    assert SECRET not in response.text
    assert response.headers["X-Request-ID"] == "req-500"
    logged = [r for r in caplog.records if r.name == "devspark.server.errors"]
    assert logged and "req-500" in logged[0].getMessage()
    assert logged[0].exc_info is not None and SECRET in str(logged[0].exc_info[1])


def test_unhandled_errors_are_counted_as_500(client: TestClient) -> None:
    client.get("/test/crash")
    text = client.get("/metrics").text
    assert 'route="/test/crash",status="500"} 1.0' in text
