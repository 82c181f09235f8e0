"""Authentication on the wire: register, login, tokens, refresh rotation, logout, audit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.core.errors import FailedPreconditionError
from devspark.server.settings import Settings
from devspark.services.accounts import TokenService, secret_key
from devspark.store.models import AuditLogRow, UserRow, utcnow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"


@pytest.fixture
def client(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)
    with TestClient(create_app(settings, hasher=CHEAP)) as test_client:
        yield test_client


def register(client: TestClient, username: str = "ada") -> dict[str, Any]:
    response = client.post(
        "/api/v1/auth/register", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def login(client: TestClient, username: str = "ada") -> dict[str, Any]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthenticated(response: Any, *, match: str = "") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "unauthenticated"
    assert match in error["message"]
    assert error["correlation_id"] == response.headers["X-Request-ID"]


def db(client: TestClient) -> Session:
    factory: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
    return factory()


# --- register, login, me ----------------------------------------------------------------


def test_register_login_and_me(client: TestClient) -> None:
    user = register(client, "Ada")
    assert user["username"] == "ada" and user["role"] == "user"
    assert "password_hash" not in user and "password" not in user
    tokens = login(client, "ADA")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    me = client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json() == user


def test_register_rejects_a_taken_username_and_a_short_password(client: TestClient) -> None:
    register(client)
    taken = client.post("/api/v1/auth/register", json={"username": "ada", "password": PASSWORD})
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "conflict"
    short = client.post("/api/v1/auth/register", json={"username": "bob", "password": "x"})
    assert short.status_code == 422
    message = short.json()["error"]["message"]  # the schema's or the service's words
    assert "password" in message and "at least 8 characters" in message


def test_wrong_password_is_401_with_the_error_body(client: TestClient) -> None:
    register(client)
    for name in ("ada", "nobody"):
        response = client.post(
            "/api/v1/auth/login", json={"username": name, "password": "wrong password"}
        )
        assert_unauthenticated(response, match="invalid username or password")


def test_no_credentials_is_401(client: TestClient) -> None:
    assert_unauthenticated(client.get("/api/v1/users/me"), match="authentication required")


def test_expired_and_tampered_tokens_are_401(client: TestClient) -> None:
    register(client)
    access = login(client)["access_token"]
    tampered = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    assert_unauthenticated(
        client.get("/api/v1/users/me", headers=bearer(tampered)), match="invalid"
    )
    past = utcnow() - timedelta(hours=1)
    old = TokenService(secret_key(False), clock=lambda: past)
    with db(client) as session:
        user = session.scalars(select(UserRow)).one()
        expired = old.issue_access(user)
    assert_unauthenticated(client.get("/api/v1/users/me", headers=bearer(expired)), match="expired")
    assert_unauthenticated(client.get("/api/v1/users/me", headers=bearer("not-a-jwt")))


def test_disabled_account_is_403(client: TestClient) -> None:
    register(client)
    access = login(client)["access_token"]
    with db(client) as session:
        session.scalars(select(UserRow)).one().disabled = True
        session.commit()
    response = client.get("/api/v1/users/me", headers=bearer(access))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_server_needs_a_secret_key_outside_dev_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVSPARK_SECRET_KEY")
    settings = Settings.from_env(data_dir=tmp_path, environ={})
    with pytest.raises(FailedPreconditionError, match="DEVSPARK_SECRET_KEY is not set"):
        create_app(settings)
    dev = Settings.from_env(data_dir=tmp_path, environ={"DEVSPARK_DEV": "1"})
    assert create_app(dev).state.tokens is not None


# --- refresh and logout -----------------------------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_family(client: TestClient) -> None:
    register(client)
    first = login(client)
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/users/me", headers=bearer(second["access_token"])).is_success
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_unauthenticated(reused, match="already used")
    newest = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_unauthenticated(newest, match="revoked")


def test_unknown_refresh_token_is_401(client: TestClient) -> None:
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": "nope"})
    assert_unauthenticated(response, match="not recognised")


def test_logout_revokes_the_family(client: TestClient) -> None:
    register(client)
    first = login(client)
    other_login = login(client)
    second = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).json()
    response = client.post("/api/v1/auth/logout", json={"refresh_token": second["refresh_token"]})
    assert response.status_code == 204 and response.content == b""
    again = client.post("/api/v1/auth/logout", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 204
    dead = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_unauthenticated(dead, match="revoked")
    alive = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": other_login["refresh_token"]}
    )
    assert alive.status_code == 200  # another login (family) is untouched
    unknown = client.post("/api/v1/auth/logout", json={"refresh_token": "nope"})
    assert_unauthenticated(unknown, match="not recognised")


# --- audit and OpenAPI ------------------------------------------------------------------


def test_audit_rows_carry_the_correlation_id(client: TestClient) -> None:
    client.post(
        "/api/v1/auth/register",
        json={"username": "ada", "password": PASSWORD},
        headers={"X-Request-ID": "reg-1"},
    )
    tokens = client.post(
        "/api/v1/auth/login",
        json={"username": "ada", "password": PASSWORD},
        headers={"X-Request-ID": "login-1"},
    ).json()
    client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers={"X-Request-ID": "logout-1"},
    )
    with db(client) as session:
        user = session.scalars(select(UserRow)).one()
        rows = session.scalars(select(AuditLogRow).order_by(AuditLogRow.at)).all()
        seen = [(r.action, r.correlation_id, r.actor_id, r.target_id) for r in rows]
    assert seen == [
        ("user.register", "reg-1", user.id, str(user.id)),
        ("auth.login", "login-1", user.id, str(user.id)),
        ("auth.logout", "logout-1", user.id, str(user.id)),
    ]


def test_openapi_declares_the_security_schemes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["BearerAuth"]["description"],
    }
    assert schemes["ApiKeyAuth"]["type"] == "apiKey"
    assert schemes["ApiKeyAuth"]["in"] == "header"
    assert schemes["ApiKeyAuth"]["name"] == "X-API-Key"
    me = document["paths"]["/api/v1/users/me"]["get"]
    assert {"BearerAuth": []} in me["security"] and {"ApiKeyAuth": []} in me["security"]
    assert "401" in me["responses"]
    for path in ("register", "login", "refresh", "logout"):
        assert f"/api/v1/auth/{path}" in document["paths"]
    schemas = document["components"]["schemas"]
    assert "password_hash" not in schemas["UserPublic"]["properties"]
    assert "key_hash" not in schemas["ApiKeyPublic"]["properties"]
    assert schemas["TokenResponse"]["examples"][0]["token_type"] == "bearer"


# --- NUL characters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/auth/register", {"username": "a\x00da", "password": PASSWORD}, "username"),
        (
            "/api/v1/auth/register",
            {"username": "ada", "password": PASSWORD, "email": "a\x00@example.org"},
            "email",
        ),
        ("/api/v1/auth/login", {"username": "a\x00da", "password": PASSWORD}, "username"),
    ],
)
def test_nul_in_account_text_is_422_naming_the_field(
    client: TestClient, url: str, body: dict[str, str], field: str
) -> None:
    response = client.post(url, json=body)
    assert response.status_code == 422, response.text  # was a 500 on PostgreSQL
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    assert f"body.{field}" in error["message"] and "\\x00" in error["message"]
    with db(client) as session:
        assert session.scalars(select(UserRow)).all() == []


# --- access tokens end with their login -------------------------------------------------


def test_logout_revokes_the_logins_access_tokens(client: TestClient) -> None:
    register(client)
    first, other = login(client), login(client)
    rotated = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).json()
    for access in (first["access_token"], rotated["access_token"]):
        assert client.get("/api/v1/users/me", headers=bearer(access)).status_code == 200
    logout = client.post("/api/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert logout.status_code == 204
    for access in (first["access_token"], rotated["access_token"]):
        assert_unauthenticated(
            client.get("/api/v1/users/me", headers=bearer(access)), match="revoked"
        )
    # Another login of the same account is untouched.
    assert client.get("/api/v1/users/me", headers=bearer(other["access_token"])).status_code == 200


def test_refresh_reuse_revokes_the_familys_access_tokens(client: TestClient) -> None:
    register(client)
    first = login(client)
    thief = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).json()
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_unauthenticated(reused, match="already used")
    for access in (first["access_token"], thief["access_token"]):
        assert_unauthenticated(
            client.get("/api/v1/users/me", headers=bearer(access)), match="revoked"
        )


def test_a_logged_out_token_cannot_open_a_websocket(client: TestClient) -> None:
    register(client)
    tokens = login(client)
    client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    with client.websocket_connect(f"/api/v1/ws?token={tokens['access_token']}") as ws:
        error = ws.receive_json()
    assert error["code"] == "unauthenticated" and "revoked" in error["message"]


# --- login throttle ---------------------------------------------------------------------


def test_200_wrong_passwords_are_throttled_and_lock_out_the_right_one(client: TestClient) -> None:
    register(client)
    register(client, "bob")
    throttle = client.app.state.login_throttle  # type: ignore[attr-defined]
    throttle.base = 60.0  # a first lock longer than this test, so no timing is involved
    wrong = {"username": "ada", "password": "wrong password"}
    codes = [client.post("/api/v1/auth/login", json=wrong) for _ in range(200)]
    assert [r.status_code for r in codes[:5]] == [401] * 5
    assert {r.status_code for r in codes[5:]} == {429}
    refused = codes[-1]
    assert refused.json()["error"]["code"] == "resource_exhausted"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    right = client.post("/api/v1/auth/login", json={"username": "ADA", "password": PASSWORD})
    assert right.status_code == 429  # the correct password waits like the wrong ones
    assert login(client, "bob")["access_token"]  # another account is not affected


def test_a_successful_login_resets_the_failures(client: TestClient) -> None:
    register(client)
    client.app.state.login_throttle.base = 60.0  # type: ignore[attr-defined]
    wrong = {"username": "ada", "password": "wrong password"}
    for _ in range(2):
        codes = [client.post("/api/v1/auth/login", json=wrong).status_code for _ in range(4)]
        assert codes == [401] * 4
        login(client)
    codes = [client.post("/api/v1/auth/login", json=wrong).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
