"""The server skeleton: settings, startup, probes, correlation ids, metrics, scenarios."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, make_url

from devspark.app import create_app
from devspark.core.errors import InvalidArgumentError
from devspark.scenarios import list_scenarios
from devspark.server.settings import Settings


@pytest.fixture
def settings(tmp_path: Path, server_environ: dict[str, str]) -> Settings:
    return Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# --- settings ---------------------------------------------------------------------------


def test_settings_default_to_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env(environ={"DEVSPARK_DATA_DIR": str(tmp_path)})
    assert settings.data_dir == tmp_path.resolve()
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'devspark.db'}"
    assert (settings.dev_mode, settings.host, settings.port) == (False, "127.0.0.1", 8000)
    assert settings.url == "http://127.0.0.1:8000"


def test_settings_read_env_and_arguments_win(tmp_path: Path) -> None:
    env = {
        "DEVSPARK_DATA_DIR": str(tmp_path / "env"),
        "DEVSPARK_DATABASE_URL": "postgresql+psycopg://u@h/db",
        "DEVSPARK_DEV": "true",
    }
    from_env = Settings.from_env(environ=env)
    assert from_env.database_url == "postgresql+psycopg://u@h/db"
    assert from_env.dev_mode is True
    overridden = Settings.from_env(
        environ=env, data_dir=tmp_path / "arg", database_url="sqlite://", dev_mode=False, port=9
    )
    assert overridden.data_dir == (tmp_path / "arg").resolve()
    assert (overridden.database_url, overridden.dev_mode, overridden.port) == (
        "sqlite://",
        False,
        9,
    )


def test_settings_reject_bad_values(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"DEVSPARK_DEV='maybe' is not a boolean"):
        Settings.from_env(data_dir=tmp_path, environ={"DEVSPARK_DEV": "maybe"})
    with pytest.raises(InvalidArgumentError, match=r"port=70000"):
        Settings.from_env(data_dir=tmp_path, port=70000, environ={})
    with pytest.raises(InvalidArgumentError, match=r"DEVSPARK_MATCH_WORKERS='0' is not a pos"):
        Settings.from_env(data_dir=tmp_path, environ={"DEVSPARK_MATCH_WORKERS": "0"})


def test_match_workers_come_from_the_environment(tmp_path: Path) -> None:
    env = {"DEVSPARK_MATCH_WORKERS": "2"}
    assert Settings.from_env(data_dir=tmp_path, environ=env).match_workers == 2
    assert Settings.from_env(data_dir=tmp_path, environ={}).match_workers == 1


# --- startup and probes -----------------------------------------------------------------


def test_startup_migrates_the_database(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    tables = set(inspect(engine).get_table_names())
    assert "alembic_version" in tables
    assert len(tables) > 1


def test_healthz_and_readyz_answer_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@contextmanager
def _refusing_connections(settings: Settings, tmp_path: Path) -> Iterator[None]:
    """Make new connections to the app's database fail while the block runs.

    SQLite: move the database's folder away (SQLite does not create folders).
    PostgreSQL: disallow connections to the database, superusers' included.
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        shutil.move(settings.data_dir, tmp_path / "moved")
        yield
        return
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
        try:
            yield
        finally:
            conn.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')


def test_readyz_is_503_when_the_database_is_unreachable(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    assert client.get("/readyz").status_code == 200
    # Close pooled connections, then refuse new ones: the next connection fails.
    client.app.state.engine.dispose()  # type: ignore[attr-defined]
    with _refusing_connections(settings, tmp_path):
        response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert error["message"] == "database is not reachable"
    assert error["correlation_id"] == response.headers["X-Request-ID"]


# --- correlation ids --------------------------------------------------------------------


def test_correlation_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "trace-42.a:b"})
    assert response.headers["X-Request-ID"] == "trace-42.a:b"


def test_correlation_id_is_generated_when_absent_or_unsafe(client: TestClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert len(first) == 32 and first != second
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(unsafe.headers["X-Request-ID"]) == 32


# --- metrics ----------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/api/v1/scenarios/tictactoe")
    client.get("/api/v1/scenarios/nope")
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert 'devspark_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    template = "/api/v1/scenarios/{scenario_id}"
    assert f'route="{template}",status="200"}} 1.0' in text
    assert f'route="{template}",status="404"}} 1.0' in text
    assert 'route="<unmatched>",status="404"} 1.0' in text
    assert "devspark_http_request_duration_seconds_bucket" in text
    assert "/api/v1/scenarios/nope" not in text


def test_each_app_has_its_own_metrics_registry(settings: Settings) -> None:
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        one.get("/healthz")
        assert 'route="/healthz"' in one.get("/metrics").text
        assert 'route="/healthz"' not in two.get("/metrics").text


# --- scenarios --------------------------------------------------------------------------


def test_scenarios_list_is_paginated(client: TestClient) -> None:
    every = [info.full_id for info in list_scenarios()]
    page = client.get("/api/v1/scenarios").json()
    assert (page["total"], page["offset"], page["limit"]) == (len(every), 0, 50)
    assert [item["full_id"] for item in page["items"]] == every
    window = client.get("/api/v1/scenarios", params={"offset": 1, "limit": 2}).json()
    assert [item["full_id"] for item in window["items"]] == every[1:3]
    assert (window["total"], window["offset"], window["limit"]) == (len(every), 1, 2)
    past_end = client.get("/api/v1/scenarios", params={"offset": 1000}).json()
    assert past_end["items"] == [] and past_end["total"] == len(every)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"offset": -1}, "offset")],
)
def test_scenarios_list_rejects_bad_windows(
    client: TestClient, params: dict[str, int], field: str
) -> None:
    response = client.get("/api/v1/scenarios", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    assert f"query.{field}" in error["message"]


def test_get_scenario_by_id_and_by_versioned_id(client: TestClient) -> None:
    latest = client.get("/api/v1/scenarios/tictactoe").json()
    assert latest == client.get(f"/api/v1/scenarios/{latest['full_id']}").json()
    assert set(latest) == {
        "id",
        "version",
        "full_id",
        "domains",
        "players",
        "difficulties",
        "parallel",
        "docs",
    }
    assert latest["id"] == "tictactoe" and latest["players"] == [2, 2]
    maze = client.get("/api/v1/scenarios/maze").json()
    assert "fog" in maze["docs"].lower()  # the rules page, as `devspark scenarios show`


def test_unknown_scenario_is_404_with_suggestions(client: TestClient) -> None:
    response = client.get("/api/v1/scenarios/tictactoo")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "Did you mean 'tictactoe'?" in error["message"]


# --- OpenAPI ----------------------------------------------------------------------------


def test_openapi_document_declares_the_error_schema(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["info"]["title"] == "DevSpark Playground API"
    assert document["info"]["version"]
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorBody"]["properties"]) == {"error"}
    assert set(schemas["ErrorDetail"]["properties"]) == {"code", "message", "correlation_id"}
    assert "HTTPValidationError" not in schemas
    get_one = document["paths"]["/api/v1/scenarios/{scenario_id}"]["get"]["responses"]
    for status in ("404", "422", "500"):
        ref = get_one[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorBody"
    readyz = document["paths"]["/readyz"]["get"]["responses"]
    assert "503" in readyz
    assert schemas["ScenarioPublic"]["examples"][0]["full_id"] == "tictactoe-v1"
    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/scenarios"):
        assert path in document["paths"]


# --- offline API docs -------------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_only_same_origin_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    urls = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', html)
    assert any(url.endswith(".js") for url in urls), html
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is not same-origin"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert "http://" not in html and "https://" not in html
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    for script in inline:  # each inline script is admitted by its hash, nothing else is
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]


# --- the schema tells the truth ---------------------------------------------------------


def test_405_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.delete("/api/v1/matches")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert response.json()["error"]["message"].endswith("use GET, POST")
    me = client.patch("/api/v1/users/me", json={})  # not PATCH /users/{user_id} with "me"
    assert (me.status_code, me.headers["Allow"]) == (405, "GET")
    scopes = client.delete("/api/v1/users/me/api-keys/scopes")
    assert (scopes.status_code, scopes.headers["Allow"]) == (405, "GET")


def test_public_reads_are_declared_public_and_writes_are_not(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in [
        ("/api/v1/matches", "get"),
        ("/api/v1/tournaments/{tournament_id}", "get"),
        ("/api/v1/agents", "get"),
        ("/api/v1/leaderboards", "get"),
    ]:
        assert {} in paths[path][method]["security"], (method, path)
        assert client.get(path.replace("{tournament_id}", "x")).status_code != 401
    for path, method in [("/api/v1/matches", "post"), ("/api/v1/users/me", "get")]:
        assert {} not in paths[path][method]["security"], (method, path)


def test_every_operation_with_a_body_declares_413_and_408(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    with_body = [
        (method, path)
        for path, item in paths.items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert ("post", "/api/v1/agents") in with_body and len(with_body) > 5
    for method, path in with_body:
        assert "413" in paths[path][method]["responses"], (method, path)
        assert "408" in paths[path][method]["responses"], (method, path)
    assert "413" not in paths["/api/v1/matches"]["get"]["responses"]
    assert "408" not in paths["/api/v1/matches"]["get"]["responses"]
