"""Schemathesis against the served OpenAPI document: no server errors, no schema violations.

Every operation of ``/openapi.json`` gets a bounded, derandomized set of generated
requests (``MAX_EXAMPLES`` each), sent in process through ASGI with a valid bearer token
(a registered user's; development mode, cheap argon2). Each response must not be a 5xx
and must match the schema the document declares for its status.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from devspark.server.app import create_app
from devspark.server.settings import Settings

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
MAX_EXAMPLES = 10


# The schema is loaded at collection, so the app is built at import; its data folder is
# removed, and its startup run, by the module fixture below. (``from_fixture`` would
# defer this, but Schemathesis 4.32 breaks on pytest 9's nodes there.)
DATA_DIR = Path(tempfile.mkdtemp(prefix="devspark-schemathesis-"))
APP = create_app(
    Settings.from_env(
        data_dir=DATA_DIR / "data",
        dev_mode=True,
        rate_limit="off",  # generated traffic would otherwise spend the quota
        rate_limit_ip="off",
        environ={},
    ),
    hasher=CHEAP,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def app() -> Iterator[FastAPI]:
    try:
        with TestClient(APP):  # startup: migrations; the state stays on the app
            yield APP
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="module")
def token(app: FastAPI) -> str:
    client = TestClient(app)
    credentials = {"username": "schemathesis", "password": PASSWORD}
    assert client.post("/api/v1/auth/register", json=credentials).status_code == 201
    response = client.post("/api/v1/auth/login", json=credentials)
    assert response.status_code == 200, response.text
    access: str = response.json()["access_token"]
    return access


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, token: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
