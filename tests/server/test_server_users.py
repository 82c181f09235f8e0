"""Users and API keys on the wire: me, the admin-only list, keys shown once, revocation."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.server.auth import KEY_SCOPES
from devspark.server.settings import Settings
from devspark.store.models import AuditLogRow, UserRow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
KEYS = "/api/v1/users/me/api-keys"


@pytest.fixture
def client(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)
    with TestClient(create_app(settings, hasher=CHEAP)) as test_client:
        yield test_client


def db(client: TestClient) -> Session:
    factory: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
    return factory()


def account(client: TestClient, username: str, *, role: str = "user") -> dict[str, str]:
    """Register and log in ``username``; return its bearer headers."""
    created = client.post(
        "/api/v1/auth/register", json={"username": username, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    if role != "user":
        with db(client) as session:
            session.scalars(select(UserRow).where(UserRow.username == username)).one().role = role
            session.commit()
    tokens = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def create_key(
    client: TestClient, headers: dict[str, str], scopes: list[str] | None = None
) -> dict[str, Any]:
    response = client.post(
        KEYS, json={"name": "ci", "scopes": scopes or ["users:read"]}, headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_api_key_is_shown_once_and_authenticates(client: TestClient) -> None:
    ada = account(client, "ada")
    key = create_key(client, ada)
    assert key["key"].startswith(f"dsk_{key['prefix']}_")
    assert key["scopes"] == ["users:read"] and key["revoked_at"] is None
    me = client.get("/api/v1/users/me", headers={"X-API-Key": key["key"]})
    assert me.status_code == 200 and me.json()["username"] == "ada"
    listed = client.get(KEYS, headers=ada).json()
    assert listed["total"] == 1 and listed["offset"] == 0
    (item,) = listed["items"]
    assert item["id"] == key["id"] and item["last_used_at"] is not None
    assert "key" not in item and "key_hash" not in item
    assert key["key"].split("_")[2] not in str(listed)


def test_api_key_list_is_paginated_and_only_mine(client: TestClient) -> None:
    ada, bob = account(client, "ada"), account(client, "bob")
    ids = [create_key(client, ada)["id"] for _ in range(3)]
    create_key(client, bob)
    page = client.get(KEYS, params={"offset": 1, "limit": 1}, headers=ada).json()
    assert (page["total"], page["offset"], page["limit"]) == (3, 1, 1)
    assert [item["id"] for item in page["items"]] == ids[1:2]


def test_key_scopes_limit_what_a_key_does(client: TestClient) -> None:
    ada = account(client, "ada")
    key = {"X-API-Key": create_key(client, ada)["key"]}
    refused = client.post(KEYS, json={"name": "more", "scopes": ["*"]}, headers=key)
    assert refused.status_code == 403
    assert "lacks scope 'api_keys:write'" in refused.json()["error"]["message"]
    bad = client.post(KEYS, json={"name": "x", "scopes": ["Not A Scope"]}, headers=ada)
    assert bad.status_code == 422


def test_revoked_key_is_401(client: TestClient) -> None:
    ada = account(client, "ada")
    key = create_key(client, ada)
    response = client.delete(f"{KEYS}/{key['id']}", headers=ada)
    assert response.status_code == 204
    assert client.delete(f"{KEYS}/{key['id']}", headers=ada).status_code == 204
    used = client.get("/api/v1/users/me", headers={"X-API-Key": key["key"]})
    assert used.status_code == 401
    assert used.headers["WWW-Authenticate"] == "Bearer"
    assert "revoked" in used.json()["error"]["message"]
    assert client.get(KEYS, headers=ada).json()["items"][0]["revoked_at"] is not None


def test_a_malformed_key_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/users/me", headers={"X-API-Key": "dsk_nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_user_cannot_revoke_another_users_key_but_admin_can(client: TestClient) -> None:
    ada, bob = account(client, "ada"), account(client, "bob")
    root = account(client, "root", role="admin")
    key = create_key(client, bob)
    refused = client.delete(f"{KEYS}/{key['id']}", headers=ada)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert client.get("/api/v1/users/me", headers={"X-API-Key": key["key"]}).status_code == 200
    missing = client.delete(f"{KEYS}/00000000-0000-0000-0000-000000000000", headers=ada)
    assert missing.status_code == 404
    assert client.delete(f"{KEYS}/{key['id']}", headers=root).status_code == 204
    assert client.get("/api/v1/users/me", headers={"X-API-Key": key["key"]}).status_code == 401


def test_only_admins_list_users(client: TestClient) -> None:
    ada = account(client, "ada")
    root = account(client, "root", role="admin")
    refused = client.get("/api/v1/users", headers=ada)
    assert refused.status_code == 403
    assert "may not admin" in refused.json()["error"]["message"]
    assert client.get("/api/v1/users").status_code == 401
    page = client.get("/api/v1/users", headers=root).json()
    assert page["total"] == 2
    assert [user["username"] for user in page["items"]] == ["ada", "root"]
    assert all("password_hash" not in user for user in page["items"])
    window = client.get("/api/v1/users", params={"offset": 1, "limit": 1}, headers=root).json()
    assert [user["username"] for user in window["items"]] == ["root"]


def test_key_creation_and_revocation_are_audited(client: TestClient) -> None:
    ada = account(client, "ada")
    created = client.post(
        KEYS,
        json={"name": "ci", "scopes": ["users:read"]},
        headers={**ada, "X-Request-ID": "create-1"},
    ).json()
    client.delete(f"{KEYS}/{created['id']}", headers={**ada, "X-Request-ID": "revoke-1"})
    with db(client) as session:
        rows = session.scalars(
            select(AuditLogRow).where(AuditLogRow.target_type == "api_key").order_by(AuditLogRow.at)
        ).all()
        seen = [(r.action, r.correlation_id, r.actor_kind, r.target_id) for r in rows]
        details = [r.detail for r in rows]
    assert seen == [
        ("api_key.create", "create-1", "user", created["id"]),
        ("api_key.revoke", "revoke-1", "user", created["id"]),
    ]
    assert created["key"] not in str(details)


def _checked_scopes() -> set[str]:
    """Every scope the routes pass to ``require_key_scope`` (literals or module constants)."""
    routes = Path(__file__).resolve().parents[2] / "src" / "devspark" / "server" / "routes"
    found: set[str] = set()
    for source in routes.glob("*.py"):
        tree = ast.parse(source.read_text())
        constants = {
            target.id: node.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name) and isinstance(node.value.value, str)
        }
        for function in ast.walk(tree):  # a scope passed on as a parameter: its default
            if isinstance(function, ast.FunctionDef):
                arguments = function.args.args[
                    len(function.args.args) - len(function.args.defaults) :
                ]
                for argument, default in zip(arguments, function.args.defaults, strict=True):
                    if isinstance(default, ast.Name) and default.id in constants:
                        constants[argument.arg] = constants[default.id]
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "require_key_scope"
            ):
                scope = node.args[1]
                if isinstance(scope, ast.Constant):
                    found.add(str(scope.value))
                else:
                    assert isinstance(scope, ast.Name), ast.dump(scope)
                    found.add(constants[scope.id])
    return found


def test_key_scopes_are_served_and_are_those_the_routes_check(client: TestClient) -> None:
    ada = account(client, "ada")
    response = client.get(f"{KEYS}/scopes", headers=ada)
    assert response.status_code == 200, response.text
    served = {item["scope"]: item["allows"] for item in response.json()}
    assert served == KEY_SCOPES and all(served.values())
    assert "matches:write" in served  # the dashboard's key form offered every scope but this
    assert set(served) == _checked_scopes()
    assert client.get(f"{KEYS}/scopes").status_code == 401


# --- PATCH /api/v1/users/{id} ------------------------------------------------------------


def user_id(client: TestClient, username: str) -> str:
    with db(client) as session:
        return str(session.scalars(select(UserRow.id).where(UserRow.username == username)).one())


def test_admin_changes_a_role_audited_in_the_same_transaction(client: TestClient) -> None:
    root, ada = account(client, "root", role="admin"), account(client, "ada")
    target = user_id(client, "ada")
    changed = client.patch(
        f"/api/v1/users/{target}", json={"role": "admin"}, headers={**root, "X-Request-ID": "p-1"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "admin" and changed.json()["username"] == "ada"
    assert client.get("/api/v1/users", headers=ada).status_code == 200  # applies at once
    with db(client) as session:
        entry = session.scalars(
            select(AuditLogRow).where(AuditLogRow.action == "user.update")
        ).one()
    assert (entry.target_id, entry.correlation_id, entry.actor_kind) == (target, "p-1", "user")
    assert entry.detail["role"] == ["user", "admin"]


def test_unknown_role_is_422_with_a_suggestion(client: TestClient) -> None:
    root = account(client, "root", role="admin")
    account(client, "ada")
    response = client.patch(
        f"/api/v1/users/{user_id(client, 'ada')}", json={"role": "admn"}, headers=root
    )
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "body.role" in message and "did you mean 'admin'" in message


def test_non_admins_cannot_patch_users(client: TestClient) -> None:
    ada = account(client, "ada")
    url = f"/api/v1/users/{user_id(client, 'ada')}"
    assert client.patch(url, json={"role": "admin"}, headers=ada).status_code == 403
    assert client.patch(url, json={"role": "admin"}).status_code == 401
    with db(client) as session:
        assert session.scalars(select(UserRow.role)).all() == ["user"]


def test_the_last_active_admin_cannot_be_demoted_or_disabled(client: TestClient) -> None:
    root = account(client, "root", role="admin")
    url = f"/api/v1/users/{user_id(client, 'root')}"
    for body in ({"role": "user"}, {"disabled": True}):
        response = client.patch(url, json=body, headers=root)
        assert response.status_code == 409, response.text
        assert "last active admin" in response.json()["error"]["message"]
    account(client, "ada", role="admin")
    assert client.patch(url, json={"role": "user"}, headers=root).status_code == 200
    with db(client) as session:
        assert session.scalars(select(AuditLogRow.action)).all().count("user.update") == 1


def test_disabling_revokes_the_users_tokens(client: TestClient) -> None:
    root = account(client, "root", role="admin")
    ada = account(client, "ada")
    refresh = client.post(
        "/api/v1/auth/login", json={"username": "ada", "password": PASSWORD}
    ).json()["refresh_token"]
    key = create_key(client, ada)
    url = f"/api/v1/users/{user_id(client, 'ada')}"
    disabled = client.patch(url, json={"disabled": True}, headers=root)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert client.get("/api/v1/users/me", headers=ada).status_code == 401
    assert client.get("/api/v1/users/me", headers={"X-API-Key": key["key"]}).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}).status_code == 401
    # Enabling again lets the account log in anew; the old login stays revoked.
    assert client.patch(url, json={"disabled": False}, headers=root).status_code == 200
    assert client.get("/api/v1/users/me", headers=ada).status_code == 401
    assert client.post(
        "/api/v1/auth/login", json={"username": "ada", "password": PASSWORD}
    ).is_success


def test_patch_refuses_an_empty_body_unknown_fields_and_a_missing_user(
    client: TestClient,
) -> None:
    root = account(client, "root", role="admin")
    url = f"/api/v1/users/{user_id(client, 'root')}"
    assert client.patch(url, json={}, headers=root).status_code == 422
    assert client.patch(url, json={"rolle": "user"}, headers=root).status_code == 422
    missing = "/api/v1/users/00000000-0000-4000-8000-000000000000"
    assert client.patch(missing, json={"role": "user"}, headers=root).status_code == 404


def test_nul_in_an_api_key_name_is_422(client: TestClient) -> None:
    ada = account(client, "ada")
    response = client.post(KEYS, json={"name": "c\x00i", "scopes": ["*"]}, headers=ada)
    assert response.status_code == 422, response.text  # was a 500 on PostgreSQL
    assert "body.name" in response.json()["error"]["message"]
    assert client.get(KEYS, headers=ada).json()["total"] == 0
