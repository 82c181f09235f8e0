"""The RBAC matrix, route by route, with real accounts, real tokens and real API keys.

Every operation of the OpenAPI document has a row in :data:`TABLE`; a new route without
a row fails :func:`test_every_operation_has_an_rbac_row`. Each row pins the exact status
that each caller gets:

* ``anonymous``: no credentials;
* ``viewer``, ``agent``, ``admin``: accounts with those roles (created in the database,
  since registration only makes ``user`` accounts);
* ``owner``: user A, who owns the resource the request targets (a fresh agent of A's,
  a fresh API key of A's, built anew for every case);
* ``other``: user B (role ``user``), who owns an agent of its own but not the target.

A non-owner touching someone else's agent or key gets **403** ``permission_denied``
(not 404): agents are public, so hiding them would hide nothing. Tokens come from
``POST /api/v1/auth/login``; API keys are checked per scope in the tests after the table.
"""

from __future__ import annotations

import io
import itertools
import tarfile
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.server.settings import Settings
from devspark.services import accounts
from devspark.services.accounts import Role, TokenService
from devspark.store.models import UserRow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
SECRET = "rbac-test-secret-" + "x" * 32
AGENTS = "/api/v1/agents"
KEYS = "/api/v1/users/me/api-keys"
TOURNAMENTS = "/api/v1/tournaments"
TOURNAMENT = {  # a tiny, trusted tournament of built-in agents
    "scenario": "tictactoe",
    "format": "round_robin",
    "agents": ["builtin:random", "builtin:minimax"],
    "rounds": 1,
    "isolation": "trusted",
}
MATCH = {
    "scenario": "tictactoe",
    "agents": ["builtin:random", "builtin:minimax"],
    "isolation": "trusted",
}
NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"
INSTANCES = "/api/v1/instances"
TASKS = "/api/v1/tasks"

CALLERS = ("anonymous", "viewer", "owner", "other", "agent", "admin")
ACCOUNTS = {  # caller -> (username, role)
    "viewer": ("vera", Role.VIEWER),
    "owner": ("alice", Role.USER),
    "other": ("bob", Role.USER),
    "agent": ("otto", Role.AGENT),
    "admin": ("root", Role.ADMIN),
}
_unique = itertools.count()


def build_archive(name: str, version: str = "1.0.0") -> bytes:
    """A tiny agent (agent.toml + agent.py) packed in memory as .tar.gz."""
    manifest = (
        f'name = "{name}"\nversion = "{version}"\nlanguage = "python"\n'
        'entrypoint = "agent.py"\ndescription = "an rbac test agent"\nlicense = "MIT"\n'
    )
    code = f"# {version}\ndef act(observation, context):\n    return context.legal_actions[0]\n"
    files = {"agent.toml": manifest.encode(), "agent.py": code.encode()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload(name: str, version: str = "1.0.0") -> dict[str, Any]:
    """The ``files=`` argument of a multipart agent upload."""
    return {"file": (f"{name}.tar.gz", build_archive(name, version), "application/gzip")}


class Env:
    """One app (per module and xdist worker), its accounts, their tokens and agents."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.factory: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
        with self.factory() as session:
            for username, role in ACCOUNTS.values():
                accounts.register(session, username, PASSWORD, role=role, hasher=CHEAP)
            session.commit()
        self.headers: dict[str, dict[str, str]] = {"anonymous": {}}
        for caller, (username, _) in ACCOUNTS.items():
            self.headers[caller] = {
                "Authorization": f"Bearer {self.login(username)['access_token']}"
            }
        # A and B each own one agent uploaded through the API.
        self.agents = {
            caller: self.publish(caller, f"{caller}-agent") for caller in ("owner", "other")
        }

    def login(self, username: str) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def publish(self, caller: str, name: str) -> dict[str, Any]:
        response = self.client.post(AGENTS, files=upload(name), headers=self.headers[caller])
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def user(self, caller: str) -> UserRow:
        username = ACCOUNTS[caller][0]
        with self.factory() as session:
            row = session.scalars(select(UserRow).where(UserRow.username == username)).one()
            session.expunge(row)
        return row

    def api_key(self, caller: str, scopes: list[str]) -> accounts.CreatedApiKey:
        with self.factory() as session:
            user = session.scalars(
                select(UserRow).where(UserRow.username == ACCOUNTS[caller][0])
            ).one()
            created = accounts.create_api_key(session, user, f"k{next(_unique)}", scopes)
            session.commit()
            session.refresh(created.row)
            session.expunge(created.row)
        return created

    def target(self) -> Target:
        """Fresh resources of user A's for one case, each built on first use."""
        return Target(self)

    def tournament(self, caller: str) -> str:
        response = self.client.post(TOURNAMENTS, json=TOURNAMENT, headers=self.headers[caller])
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


class Target:
    """The resources one case acts on, all owned by user A, built lazily (fast cases)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.agent_name = f"a{next(_unique)}"

    @cached_property
    def _published(self) -> dict[str, Any]:
        return self.env.publish("owner", self.agent_name)

    @property
    def agent_id(self) -> str:
        return str(self._published["agent_id"])

    @property
    def version_id(self) -> str:
        return str(self._published["id"])

    @cached_property
    def key_id(self) -> str:
        return str(self.env.api_key("owner", ["users:read"]).row.id)

    @cached_property
    def user_id(self) -> str:
        """A fresh account of its own (role ``user``), for the admin's PATCH."""
        with self.env.factory() as session:
            user = accounts.register(session, f"user{next(_unique)}", PASSWORD, hasher=CHEAP)
            session.commit()
            return str(user.id)

    @cached_property
    def refresh(self) -> str:
        return str(self.env.login("alice")["refresh_token"])

    @cached_property
    def tournament_id(self) -> str:
        return self.env.tournament("owner")

    @cached_property
    def instance_id(self) -> str:
        """A service instance of A's (``builtin:echo``)."""
        response = self.env.client.post(
            INSTANCES, json={"agent": "builtin:echo"}, headers=self.env.headers["owner"]
        )
        assert response.status_code == 201, response.text
        return str(response.json()["instances"][0]["id"])

    @property
    def tournament(self) -> str:
        return f"{TOURNAMENTS}/{self.tournament_id}"

    @property
    def agent(self) -> str:
        return f"{AGENTS}/{self.agent_id}"

    @property
    def version(self) -> str:
        return f"{self.agent}/versions/{self.version_id}"


Request = tuple[str, str, dict[str, Any]]
Builder = Callable[[Env, Target], Request]


def _stop(env: Env, t: Target) -> Request:
    started = env.client.post(f"{t.agent}/start", headers=env.headers["owner"])
    assert started.status_code == 200, started.text
    return "POST", f"{t.agent}/stop", {}


def _public(status: int = 200) -> dict[str, int]:
    return dict.fromkeys(CALLERS, status)


def _authenticated(status: int) -> dict[str, int]:
    return {**dict.fromkeys(CALLERS, status), "anonymous": 401}


# Writes of the owner (or an admin) only: update/delete are "own" for users, "no" for
# viewers and agents. A non-owner user gets 403 (pinned: the server does not hide
# agents behind 404).
def _owned(status: int) -> dict[str, int]:
    return {
        "anonymous": 401,
        "viewer": 403,
        "owner": status,
        "other": 403,
        "agent": 403,
        "admin": status,
    }


_CREATE = {"anonymous": 401, "viewer": 403, "owner": 201, "other": 201, "agent": 403, "admin": 201}
_ADMIN_ONLY = {**dict.fromkeys(CALLERS, 403), "anonymous": 401, "admin": 200}
# Service instances and tasks: users create, agent accounts execute (like matches).
_RUN = {"anonymous": 401, "viewer": 403, "owner": 202, "other": 202, "agent": 202, "admin": 202}

TABLE: dict[tuple[str, str], tuple[Builder, dict[str, int]]] = {
    # ----------------------------------------------------------------- health, public
    ("GET", "/healthz"): (lambda e, t: ("GET", "/healthz", {}), _public()),
    ("GET", "/readyz"): (lambda e, t: ("GET", "/readyz", {}), _public()),
    ("GET", "/metrics"): (lambda e, t: ("GET", "/metrics", {}), _public()),
    ("GET", "/api/v1/scenarios"): (lambda e, t: ("GET", "/api/v1/scenarios", {}), _public()),
    ("GET", "/api/v1/scenarios/{scenario_id}"): (
        lambda e, t: ("GET", "/api/v1/scenarios/tictactoe", {}),
        _public(),
    ),
    # ----------------------------------------------------------------- auth, public
    ("POST", "/api/v1/auth/register"): (
        lambda e, t: (
            "POST",
            "/api/v1/auth/register",
            {"json": {"username": f"new{next(_unique)}", "password": PASSWORD}},
        ),
        _public(201),
    ),
    ("POST", "/api/v1/auth/login"): (
        lambda e, t: (
            "POST",
            "/api/v1/auth/login",
            {"json": {"username": "alice", "password": PASSWORD}},
        ),
        _public(200),
    ),
    ("POST", "/api/v1/auth/refresh"): (
        lambda e, t: ("POST", "/api/v1/auth/refresh", {"json": {"refresh_token": t.refresh}}),
        _public(200),
    ),
    ("POST", "/api/v1/auth/logout"): (
        lambda e, t: ("POST", "/api/v1/auth/logout", {"json": {"refresh_token": t.refresh}}),
        _public(204),
    ),
    # ----------------------------------------------------------------- agents, reads public
    ("GET", AGENTS): (lambda e, t: ("GET", AGENTS, {}), _public()),
    ("GET", f"{AGENTS}/{{agent_id}}"): (lambda e, t: ("GET", t.agent, {}), _public()),
    ("GET", f"{AGENTS}/{{agent_id}}/versions"): (
        lambda e, t: ("GET", f"{t.agent}/versions", {}),
        _public(),
    ),
    ("GET", f"{AGENTS}/{{agent_id}}/versions/{{version_id}}"): (
        lambda e, t: ("GET", t.version, {}),
        _public(),
    ),
    ("GET", f"{AGENTS}/{{agent_id}}/versions/{{version_id}}/download"): (
        lambda e, t: ("GET", f"{t.version}/download", {}),
        _public(),
    ),
    ("GET", f"{AGENTS}/{{agent_id}}/versions/{{version_id}}/events"): (
        lambda e, t: ("GET", f"{t.version}/events", {}),
        _public(),
    ),
    # ----------------------------------------------------------------- agents, writes
    # create: users (A and B alike) and admins; a viewer or agent account may not.
    ("POST", AGENTS): (
        lambda e, t: ("POST", AGENTS, {"files": upload(f"n{next(_unique)}")}),
        _CREATE,
    ),
    ("PUT", f"{AGENTS}/{{agent_id}}"): (
        lambda e, t: ("PUT", t.agent, {"files": upload(t.agent_name, "2.0.0")}),
        _owned(201),
    ),
    ("DELETE", f"{AGENTS}/{{agent_id}}"): (lambda e, t: ("DELETE", t.agent, {}), _owned(204)),
    ("POST", f"{AGENTS}/{{agent_id}}/versions/{{version_id}}/deprecate"): (
        lambda e, t: ("POST", f"{t.version}/deprecate", {}),
        _owned(200),
    ),
    ("DELETE", f"{AGENTS}/{{agent_id}}/versions/{{version_id}}"): (
        lambda e, t: ("DELETE", t.version, {}),
        _owned(204),
    ),
    ("POST", f"{AGENTS}/{{agent_id}}/start"): (
        lambda e, t: ("POST", f"{t.agent}/start", {}),
        _owned(200),
    ),
    ("POST", f"{AGENTS}/{{agent_id}}/stop"): (_stop, _owned(200)),
    # ----------------------------------------------------------------- users and keys
    ("GET", "/api/v1/users/me"): (
        lambda e, t: ("GET", "/api/v1/users/me", {}),
        _authenticated(200),
    ),
    ("GET", "/api/v1/users"): (lambda e, t: ("GET", "/api/v1/users", {}), _ADMIN_ONLY),
    # Changing a role (or disabling) is for admins only; the target is a fresh account.
    ("PATCH", "/api/v1/users/{user_id}"): (
        lambda e, t: ("PATCH", f"/api/v1/users/{t.user_id}", {"json": {"role": "viewer"}}),
        _ADMIN_ONLY,
    ),
    # Any account manages its own keys, viewers and agents included: a key acts as its
    # owner and its scopes only narrow the role (docs/api.md), so this grants nothing.
    ("POST", KEYS): (
        lambda e, t: ("POST", KEYS, {"json": {"name": "ci", "scopes": ["users:read"]}}),
        _authenticated(201),
    ),
    ("GET", KEYS): (lambda e, t: ("GET", KEYS, {}), _authenticated(200)),
    ("GET", f"{KEYS}/scopes"): (lambda e, t: ("GET", f"{KEYS}/scopes", {}), _authenticated(200)),
    # The target is A's key: A or an admin may revoke it, anyone else gets 403.
    ("DELETE", f"{KEYS}/{{key_id}}"): (
        lambda e, t: ("DELETE", f"{KEYS}/{t.key_id}", {}),
        _owned(204),
    ),
    # ----------------------------------------------------------------- tournaments
    ("GET", TOURNAMENTS): (lambda e, t: ("GET", TOURNAMENTS, {}), _public()),
    ("GET", f"{TOURNAMENTS}/{{tournament_id}}"): (
        lambda e, t: ("GET", t.tournament, {}),
        _public(),
    ),
    ("GET", f"{TOURNAMENTS}/{{tournament_id}}/matches"): (
        lambda e, t: ("GET", f"{t.tournament}/matches", {}),
        _public(),
    ),
    # Public, but a tournament that has not finished has no standings: 409 for everyone
    # (no caller is refused, which is what this row checks).
    ("GET", f"{TOURNAMENTS}/{{tournament_id}}/standings"): (
        lambda e, t: ("GET", f"{t.tournament}/standings", {}),
        _public(409),
    ),
    # Public; no such match, so 404 for everyone, never 401/403.
    ("GET", "/api/v1/matches/{match_id}"): (
        lambda e, t: ("GET", f"/api/v1/matches/{NO_SUCH_ID}", {}),
        _public(404),
    ),
    ("GET", "/api/v1/matches/{match_id}/replay"): (
        lambda e, t: ("GET", f"/api/v1/matches/{NO_SUCH_ID}/replay", {}),
        _public(404),
    ),
    ("GET", "/api/v1/matches"): (lambda e, t: ("GET", "/api/v1/matches", {}), _public()),
    # An agent account may execute matches (its CI evaluating it), not create tournaments.
    ("POST", "/api/v1/matches"): (
        lambda e, t: ("POST", "/api/v1/matches", {"json": MATCH}),
        {**_CREATE, "agent": 201},
    ),
    ("GET", "/api/v1/leaderboards"): (lambda e, t: ("GET", "/api/v1/leaderboards", {}), _public()),
    ("GET", "/api/v1/leaderboards/boards"): (
        lambda e, t: ("GET", "/api/v1/leaderboards/boards", {}),
        _public(),
    ),
    ("GET", "/api/v1/leaderboards/head-to-head"): (
        lambda e, t: ("GET", "/api/v1/leaderboards/head-to-head?agent=builtin:random", {}),
        _public(),
    ),
    ("GET", "/api/v1/workers"): (lambda e, t: ("GET", "/api/v1/workers", {}), _public()),
    ("GET", "/api/v1/queue"): (lambda e, t: ("GET", "/api/v1/queue", {}), _public()),
    ("POST", TOURNAMENTS): (lambda e, t: ("POST", TOURNAMENTS, {"json": TOURNAMENT}), _CREATE),
    ("POST", f"{TOURNAMENTS}/{{tournament_id}}/start"): (
        lambda e, t: ("POST", f"{t.tournament}/start", {}),
        _owned(202),
    ),
    ("POST", f"{TOURNAMENTS}/{{tournament_id}}/cancel"): (
        lambda e, t: ("POST", f"{t.tournament}/cancel", {}),
        _owned(200),
    ),
    # ----------------------------------------------------------------- service agents
    ("GET", INSTANCES): (lambda e, t: ("GET", INSTANCES, {}), _authenticated(200)),
    ("POST", INSTANCES): (
        lambda e, t: ("POST", INSTANCES, {"json": {"agent": "builtin:echo"}}),
        {**_CREATE, "agent": 201},
    ),
    ("GET", f"{INSTANCES}/graph"): (
        lambda e, t: ("GET", f"{INSTANCES}/graph", {}),
        _authenticated(200),
    ),
    ("POST", f"{INSTANCES}/rollout"): (
        lambda e, t: ("POST", f"{INSTANCES}/rollout", {"json": {"agent": "builtin:echo"}}),
        _RUN,
    ),
    ("GET", f"{INSTANCES}/{{instance_id}}"): (
        lambda e, t: ("GET", f"{INSTANCES}/{NO_SUCH_ID}", {}),
        _authenticated(404),
    ),
    ("DELETE", f"{INSTANCES}/{{instance_id}}"): (
        lambda e, t: ("DELETE", f"{INSTANCES}/{t.instance_id}", {}),
        _owned(202),
    ),
    ("GET", TASKS): (lambda e, t: ("GET", TASKS, {}), _authenticated(200)),
    ("GET", f"{TASKS}/counts"): (lambda e, t: ("GET", f"{TASKS}/counts", {}), _authenticated(200)),
    ("GET", f"{TASKS}/{{task_id}}"): (
        lambda e, t: ("GET", f"{TASKS}/{NO_SUCH_ID}", {}),
        _authenticated(404),
    ),
    ("POST", TASKS): (
        lambda e, t: ("POST", TASKS, {"json": {"type": "echo", "to": t.instance_id}}),
        _RUN,
    ),
    ("POST", f"{TASKS}/batch"): (
        lambda e, t: (
            "POST",
            f"{TASKS}/batch",
            {"json": {"tasks": [{"type": "echo", "to": t.instance_id}]}},
        ),
        _RUN,
    ),
}


@pytest.fixture(scope="module")
def env(
    tmp_path_factory: pytest.TempPathFactory, module_server_environ: dict[str, str]
) -> Iterator[Env]:
    data_dir = tmp_path_factory.mktemp("rbac") / "data"
    settings = Settings.from_env(
        data_dir=data_dir, environ=module_server_environ, rate_limit="off", rate_limit_ip="off"
    )
    with TestClient(create_app(settings, tokens=TokenService(SECRET), hasher=CHEAP)) as client:
        yield Env(client)


def _operations(env: Env) -> set[tuple[str, str]]:
    paths = env.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(m.upper(), path) for path, item in paths.items() for m in item if m in methods}


def test_every_operation_has_an_rbac_row(env: Env) -> None:
    operations = _operations(env)
    assert not operations - TABLE.keys(), "operations without an RBAC row"
    assert not TABLE.keys() - operations, "RBAC rows for operations that no longer exist"
    for key, (_, expected) in TABLE.items():
        assert set(expected) == set(CALLERS), key


CASES = [
    pytest.param(operation, caller, id=f"{operation[0]} {operation[1]} as {caller}")
    for operation in TABLE
    for caller in CALLERS
]


@pytest.mark.parametrize(("operation", "caller"), CASES)
def test_rbac_matrix(env: Env, operation: tuple[str, str], caller: str) -> None:
    build, expected = TABLE[operation]
    method, url, kwargs = build(env, env.target())
    response = env.client.request(method, url, headers=env.headers[caller], **kwargs)
    assert response.status_code == expected[caller], response.text
    if response.status_code in (401, 403):
        code = "unauthenticated" if response.status_code == 401 else "permission_denied"
        assert response.json()["error"]["code"] == code


def test_user_b_cannot_touch_a_s_agent_through_any_route(env: Env) -> None:
    t = env.target()
    attempts = [
        (method, url, kwargs)
        for (method, _), (build, expected) in TABLE.items()
        if method != "GET" and expected["other"] == 403 and _.startswith(f"{AGENTS}/")
        for method, url, kwargs in [build(env, t)]
    ]
    assert len(attempts) == 6
    bob = env.headers["other"]
    for method, url, kwargs in attempts:
        response = env.client.request(method, url, headers=bob, **kwargs)
        assert response.status_code == 403, (method, url, response.text)
    # Nothing changed: A's agent and its one version are as published.
    assert env.client.get(t.agent).status_code == 200
    versions = env.client.get(f"{t.agent}/versions").json()["items"]
    assert [(v["id"], v["deprecated"]) for v in versions] == [(t.version_id, False)]
    # The stop builder had A start it before B's attempts: B's stop did not take.
    assert env.client.get(t.version).json()["lifecycle_state"] == "online"
    # B's own agent is still B's to change.
    mine = env.agents["other"]
    own = env.client.post(f"{AGENTS}/{mine['agent_id']}/start", headers=bob)
    assert own.status_code == 200, own.text


def test_non_owner_on_a_missing_agent_is_404(env: Env) -> None:
    missing = f"{AGENTS}/{NO_SUCH_ID}"
    response = env.client.delete(missing, headers=env.headers["other"])
    assert response.status_code == 404


# --------------------------------------------------------------------- API-key scopes


def _with_key(env: Env, caller: str, scopes: list[str]) -> dict[str, str]:
    return {"X-API-Key": env.api_key(caller, scopes).secret}


@pytest.mark.parametrize(
    ("caller", "scopes", "status"),
    [
        ("owner", ["agents:write"], 201),
        ("owner", ["agents:*"], 201),
        ("owner", ["*"], 201),
        ("owner", ["users:read"], 403),
        ("owner", ["agents:read"], 403),
        ("viewer", ["*"], 403),  # a scope never widens the role
        ("agent", ["agents:write"], 403),
        ("admin", ["agents:write"], 201),
    ],
)
def test_key_scope_agents_write(env: Env, caller: str, scopes: list[str], status: int) -> None:
    headers = _with_key(env, caller, scopes)
    response = env.client.post(AGENTS, files=upload(f"k{next(_unique)}"), headers=headers)
    assert response.status_code == status, response.text


def test_key_scope_agents_write_keeps_the_owner_rule(env: Env) -> None:
    t = env.target()
    bob = _with_key(env, "other", ["*"])
    assert env.client.post(f"{t.agent}/start", headers=bob).status_code == 403
    assert env.client.delete(t.agent, headers=bob).status_code == 403
    alice = _with_key(env, "owner", ["agents:write"])
    assert env.client.post(f"{t.agent}/start", headers=alice).status_code == 200
    # Reads are public: a key without any agents scope still reads.
    reader = _with_key(env, "viewer", ["users:read"])
    assert env.client.get(t.agent, headers=reader).status_code == 200


@pytest.mark.parametrize(
    ("caller", "scopes", "url", "status"),
    [
        ("viewer", ["users:read"], "/api/v1/users/me", 200),
        ("viewer", ["users:*"], "/api/v1/users/me", 200),
        ("viewer", ["agents:write"], "/api/v1/users/me", 403),
        ("admin", ["users:read"], "/api/v1/users", 200),
        ("admin", ["agents:*"], "/api/v1/users", 403),
        ("owner", ["*"], "/api/v1/users", 403),  # a scope never widens the role
        ("owner", ["api_keys:read"], KEYS, 200),
        ("owner", ["api_keys:write"], KEYS, 403),
    ],
)
def test_key_scope_reads(env: Env, caller: str, scopes: list[str], url: str, status: int) -> None:
    response = env.client.get(url, headers=_with_key(env, caller, scopes))
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("scopes", "status"), [(["api_keys:write"], 201), (["api_keys:read"], 403)]
)
def test_key_scope_api_keys_write_create(env: Env, scopes: list[str], status: int) -> None:
    headers = _with_key(env, "owner", scopes)
    response = env.client.post(KEYS, json={"name": "ci", "scopes": ["users:read"]}, headers=headers)
    assert response.status_code == status, response.text


def test_key_scope_api_keys_write_revoke(env: Env) -> None:
    victim = env.api_key("owner", ["users:read"])
    url = f"{KEYS}/{victim.row.id}"
    assert (
        env.client.delete(url, headers=_with_key(env, "owner", ["api_keys:read"])).status_code
        == 403
    )
    assert env.client.delete(url, headers=_with_key(env, "other", ["*"])).status_code == 403
    assert (
        env.client.delete(url, headers=_with_key(env, "owner", ["api_keys:write"])).status_code
        == 204
    )
    # The revoked key no longer authenticates.
    gone = env.client.get("/api/v1/users/me", headers={"X-API-Key": victim.secret})
    assert gone.status_code == 401
