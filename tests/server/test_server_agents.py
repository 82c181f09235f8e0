"""Agent registry routes: upload, list, download, lifecycle, owner rules, audit, OpenAPI."""

from __future__ import annotations

import io
import os
import tarfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.server.auth import Actor, current_actor, optional_actor
from devspark.server.routes.agents import upload_limit
from devspark.server.settings import Settings
from devspark.services.accounts import Role
from devspark.store.models import AgentVersionRow, AuditLogRow, UserRow
from devspark.testing.archives import tar_gz

AGENTS = "/api/v1/agents"


def build_archive(
    *, name: str = "bot", version: str = "1.0.0", fmt: str = "tar", code: str | None = None
) -> bytes:
    """A tiny agent (agent.toml + agent.py) packed in memory as .tar.gz or .zip."""
    manifest = (
        f'name = "{name}"\nversion = "{version}"\nlanguage = "python"\n'
        'entrypoint = "agent.py"\ndescription = "a test agent"\nlicense = "MIT"\n'
    )
    if code is None:
        code = f"# {version}\ndef act(observation, context):\n    return context.legal_actions[0]\n"
    files = {"agent.toml": manifest.encode(), "agent.py": code.encode()}
    buffer = io.BytesIO()
    if fmt == "zip":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, data in files.items():
                archive.writestr(path, data)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def hostile_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("../escape.py")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    return buffer.getvalue()


class World:
    """The app under test, its users, and who is calling."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: Any = client.app
        self.factory: sessionmaker[Session] = self.app.state.session_factory
        self.users = {role: self._user(role) for role in ("alice", "bob", "admin", "viewer")}
        self.app.dependency_overrides[optional_actor] = lambda: None

    def _user(self, name: str) -> UserRow:
        role = {"admin": "admin", "viewer": "viewer"}.get(name, "user")
        with self.factory() as session:
            user = UserRow(username=name, role=role, disabled=False)
            session.add(user)
            session.commit()
            session.refresh(user)
            session.expunge(user)
        return user

    def act_as(self, name: str | None) -> None:
        if name is None:
            self.app.dependency_overrides.pop(current_actor, None)
            return
        user = self.users[name]
        actor = Actor(user=user, role=Role(user.role), via="token")
        self.app.dependency_overrides[current_actor] = lambda: actor

    def upload(
        self, data: bytes, filename: str = "bot.tar.gz", *, agent_id: str | None = None, **kw: Any
    ) -> Any:
        files = {"file": (filename, data, "application/octet-stream")}
        if agent_id is None:
            return self.client.post(AGENTS, files=files, **kw)
        return self.client.put(f"{AGENTS}/{agent_id}", files=files, **kw)

    def publish(self, name: str = "bot", version: str = "1.0.0", fmt: str = "tar") -> Any:
        suffix = ".zip" if fmt == "zip" else ".tar.gz"
        response = self.upload(build_archive(name=name, version=version, fmt=fmt), name + suffix)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
def world(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[World]:
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)
    with TestClient(create_app(settings)) as client:
        world = World(client)
        world.act_as("alice")
        yield world


# --- publishing -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_upload_publishes_a_version(world: World, fmt: str) -> None:
    body = world.publish(fmt=fmt)
    assert (body["version"], body["lifecycle_state"], body["license"]) == (
        "1.0.0",
        "registered",
        "MIT",
    )
    agent = world.client.get(f"{AGENTS}/{body['agent_id']}").json()
    assert (agent["name"], agent["owner_id"]) == ("bot", str(world.users["alice"].id))


def test_versions_must_increase(world: World) -> None:
    first = world.publish(version="1.1.0")
    response = world.upload(build_archive(version="1.0.0"))
    assert response.status_code == 409
    assert "must be greater" in response.json()["error"]["message"]
    response = world.upload(build_archive(version="1.0.0"), agent_id=first["agent_id"])
    assert response.status_code == 409
    ok = world.upload(build_archive(version="2.0.0"), agent_id=first["agent_id"])
    assert ok.status_code == 201 and ok.json()["agent_id"] == first["agent_id"]


def test_hostile_archive_is_422_naming_the_entry(world: World) -> None:
    response = world.upload(hostile_archive())
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_argument" and "../escape.py" in error["message"]


def test_oversize_upload_is_refused(world: World) -> None:
    world.app.dependency_overrides[upload_limit] = lambda: 100
    response = world.upload(build_archive())
    assert response.status_code == 422
    assert "over the limit of 100 bytes" in response.json()["error"]["message"]
    assert world.client.get(AGENTS).json()["total"] == 0


# --- reading ----------------------------------------------------------------------------


def test_list_is_paginated_and_filtered_by_owner(world: World) -> None:
    for name in ("a1", "a2", "a3"):
        world.publish(name=name)
    world.act_as("bob")
    world.publish(name="b1")
    page = world.client.get(AGENTS, params={"offset": 1, "limit": 2}).json()
    assert (page["total"], page["offset"], page["limit"]) == (4, 1, 2)
    assert [item["name"] for item in page["items"]] == ["a2", "a3"]
    bob = world.client.get(AGENTS, params={"owner_id": str(world.users["bob"].id)}).json()
    assert [item["name"] for item in bob["items"]] == ["b1"] and bob["total"] == 1
    assert world.client.get(AGENTS, params={"limit": 201}).status_code == 422


def test_versions_listing_get_and_404(world: World) -> None:
    v1 = world.publish()
    v2 = world.upload(build_archive(version="1.1.0"), agent_id=v1["agent_id"]).json()
    base = f"{AGENTS}/{v1['agent_id']}"
    page = world.client.get(f"{base}/versions", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and [item["id"] for item in page["items"]] == [v2["id"]]
    assert world.client.get(f"{base}/versions/{v1['id']}").json()["version"] == "1.0.0"
    missing = world.client.get(f"{AGENTS}/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    other = world.publish(name="other")
    assert world.client.get(f"{base}/versions/{other['id']}").status_code == 404
    assert world.client.get(f"{AGENTS}/not-a-uuid").status_code == 422


@pytest.mark.parametrize(
    ("fmt", "media"), [("tar", "application/gzip"), ("zip", "application/zip")]
)
def test_download_round_trip(world: World, fmt: str, media: str) -> None:
    data = build_archive(fmt=fmt)
    body = world.upload(data, "bot.zip" if fmt == "zip" else "bot.tar.gz").json()
    response = world.client.get(f"{AGENTS}/{body['agent_id']}/versions/{body['id']}/download")
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == media
    suffix = ".zip" if fmt == "zip" else ".tar.gz"
    assert f'filename="bot-1.0.0{suffix}"' in response.headers["content-disposition"]


# --- lifecycle --------------------------------------------------------------------------


def test_start_stop_events_and_deprecate(world: World) -> None:
    v1 = world.publish()
    base = f"{AGENTS}/{v1['agent_id']}"
    v2 = world.upload(build_archive(version="1.1.0"), agent_id=v1["agent_id"]).json()
    started = world.client.post(f"{base}/start").json()
    assert (started["id"], started["lifecycle_state"]) == (v2["id"], "online")
    stopped = world.client.post(f"{base}/stop").json()
    assert stopped["lifecycle_state"] == "offline"
    events = world.client.get(f"{base}/versions/{v2['id']}/events").json()
    assert [e["to_state"] for e in events["items"]] == [
        "registered",
        "deploying",
        "online",
        "offline",
    ]
    assert events["total"] == 4
    deprecated = world.client.post(f"{base}/versions/{v2['id']}/deprecate").json()
    assert deprecated["deprecated"] is True
    again = world.client.post(f"{base}/start").json()
    assert again["id"] == v1["id"]  # latest version not deprecated
    explicit = world.client.post(f"{base}/start", params={"version_id": v2["id"]})
    assert explicit.status_code == 409 and "deprecated" in explicit.json()["error"]["message"]


def test_start_tries_the_agent_in_the_sandbox_and_refuses_a_broken_one(world: World) -> None:
    broken = build_archive(code="def act(observation, context)\n    return 0\n")
    published = world.upload(broken).json()
    base = f"{AGENTS}/{published['agent_id']}"
    refused = world.client.post(f"{base}/start")
    assert refused.status_code == 409, refused.text
    message = refused.json()["error"]["message"]
    assert message.startswith("version '1.0.0': tried in the sandbox: start failed: crashed")
    assert "SyntaxError" in message and "agent.py" in message  # the traceback, for the owner
    version = world.client.get(f"{base}/versions/{published['id']}").json()
    assert version["lifecycle_state"] == "error"
    events = world.client.get(f"{base}/versions/{published['id']}/events").json()["items"]
    assert [e["to_state"] for e in events] == ["registered", "deploying", "error"]
    assert "SyntaxError" in events[-1]["reason"]

    fixed = world.upload(build_archive(version="1.0.1"), agent_id=published["agent_id"])
    started = world.client.post(f"{base}/start").json()
    assert (started["id"], started["lifecycle_state"]) == (fixed.json()["id"], "online")


def test_delete_version_and_agent(world: World) -> None:
    v1 = world.publish()
    base = f"{AGENTS}/{v1['agent_id']}"
    v2 = world.upload(build_archive(version="1.1.0"), agent_id=v1["agent_id"]).json()
    assert world.client.delete(f"{base}/versions/{v2['id']}").status_code == 204
    assert world.client.get(f"{base}/versions").json()["total"] == 1
    with world.factory() as session:
        row = session.get(AgentVersionRow, uuid.UUID(v1["id"]))
        assert row is not None
        row.matches_played = 1
        session.commit()
    refused = world.client.delete(base)
    assert (
        refused.status_code == 409 and "deprecate it instead" in refused.json()["error"]["message"]
    )
    other = world.publish(name="other")
    assert world.client.delete(f"{AGENTS}/{other['agent_id']}").status_code == 204
    assert world.client.get(f"{AGENTS}/{other['agent_id']}").status_code == 404


# --- permissions ------------------------------------------------------------------------

Mutation = Callable[[World, dict[str, Any]], Any]
MUTATIONS: dict[str, Mutation] = {
    "put": lambda w, v: w.upload(build_archive(version="9.0.0"), agent_id=v["agent_id"]),
    "delete": lambda w, v: w.client.delete(f"{AGENTS}/{v['agent_id']}"),
    "deprecate": lambda w, v: w.client.post(
        f"{AGENTS}/{v['agent_id']}/versions/{v['id']}/deprecate"
    ),
    "start": lambda w, v: w.client.post(f"{AGENTS}/{v['agent_id']}/start"),
    "stop": lambda w, v: w.client.post(f"{AGENTS}/{v['agent_id']}/stop"),
    "delete_version": lambda w, v: w.client.delete(f"{AGENTS}/{v['agent_id']}/versions/{v['id']}"),
}


@pytest.mark.parametrize("route", sorted(MUTATIONS))
def test_only_owner_or_admin_may_change_an_agent(world: World, route: str) -> None:
    version = world.publish()
    for stranger in ("bob", "viewer"):
        world.act_as(stranger)
        response = MUTATIONS[route](world, version)
        assert response.status_code == 403, (stranger, response.text)
        assert response.json()["error"]["code"] == "permission_denied"
    world.act_as("admin")
    response = MUTATIONS[route](world, version)
    assert response.status_code in (200, 201, 204), response.text


def test_viewer_cannot_upload(world: World) -> None:
    world.act_as("viewer")
    response = world.upload(build_archive())
    assert response.status_code == 403
    assert "role 'viewer'" in response.json()["error"]["message"]


def test_writes_without_credentials_are_401(world: World) -> None:
    version = world.publish()
    world.act_as(None)
    del world.app.dependency_overrides[optional_actor]
    assert world.upload(build_archive(version="2.0.0")).status_code == 401
    for route in sorted(MUTATIONS):
        response = MUTATIONS[route](world, version)
        assert response.status_code == 401, route
        assert response.json()["error"]["code"] == "unauthenticated"
    assert world.client.get(AGENTS).json()["total"] == 1  # reads stay public


# --- audit and OpenAPI ------------------------------------------------------------------


def test_every_change_is_audited_with_the_correlation_id(world: World) -> None:
    headers = {"X-Request-ID": "trace-publish"}
    version = world.upload(build_archive(), headers=headers).json()
    base = f"{AGENTS}/{version['agent_id']}"
    world.client.post(f"{base}/start", headers={"X-Request-ID": "trace-start"})
    world.client.post(f"{base}/stop", headers={"X-Request-ID": "trace-stop"})
    world.client.delete(base, headers={"X-Request-ID": "trace-delete"})
    with world.factory() as session:
        rows = session.scalars(select(AuditLogRow).order_by(AuditLogRow.at)).all()
        entries = [(r.action, r.correlation_id, r.actor_id, r.actor_kind) for r in rows]
    alice = world.users["alice"].id
    assert entries == [
        ("agent.publish", "trace-publish", alice, "user"),
        ("agent.start", "trace-start", alice, "user"),
        ("agent.stop", "trace-stop", alice, "user"),
        ("agent.delete", "trace-delete", alice, "user"),
    ]


def test_openapi_lists_every_agent_route(world: World) -> None:
    paths = world.client.get("/openapi.json").json()["paths"]
    expected = {
        AGENTS: {"get", "post"},
        f"{AGENTS}/{{agent_id}}": {"get", "put", "delete"},
        f"{AGENTS}/{{agent_id}}/versions": {"get"},
        f"{AGENTS}/{{agent_id}}/versions/{{version_id}}": {"get", "delete"},
        f"{AGENTS}/{{agent_id}}/versions/{{version_id}}/download": {"get"},
        f"{AGENTS}/{{agent_id}}/versions/{{version_id}}/deprecate": {"post"},
        f"{AGENTS}/{{agent_id}}/versions/{{version_id}}/events": {"get"},
        f"{AGENTS}/{{agent_id}}/start": {"post"},
        f"{AGENTS}/{{agent_id}}/stop": {"post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) >= methods, path
    download = paths[f"{AGENTS}/{{agent_id}}/versions/{{version_id}}/download"]["get"]
    assert set(download["responses"]["200"]["content"]) >= {"application/gzip", "application/zip"}


# --- manifests and archives refused at the door (issue 11) ------------------------------

MANIFEST = (
    'name = "bot"\nversion = "1.0.0"\nlanguage = "python"\nentrypoint = "agent.py"\n'
    'license = "MIT"\n'
)


def refused(world: World, files: dict[str, bytes]) -> str:
    """Upload ``files``; assert a 422 invalid_argument and nothing published; the message."""
    response = world.upload(tar_gz({"agent.py": b"X = 0\n", **files}))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    assert world.client.get(AGENTS).json()["items"] == []
    return str(error["message"])


def test_a_member_name_that_is_not_utf8_is_422_naming_it(world: World) -> None:
    bad = os.fsdecode(b"lib/bad\xffname.py")
    message = refused(world, {"agent.toml": MANIFEST.encode(), bad: b"X = 1\n"})
    assert "file 'lib/bad\\xffname.py': the name is not valid UTF-8" in message


def test_an_unknown_scenario_is_422_with_the_near_name(world: World) -> None:
    manifest = MANIFEST + 'scenarios = ["tictactoe", "conect_four"]\n'
    message = refused(world, {"agent.toml": manifest.encode()})
    assert message == (
        "bot.tar.gz: field 'scenarios' = ['tictactoe', 'conect_four']: unknown scenario "
        "'conect_four' (did you mean `connect_four`?)"
    )
    far = refused(world, {"agent.toml": (MANIFEST + 'scenarios = ["chess"]\n').encode()})
    assert "unknown scenario 'chess' (known: connect_four, " in far and "or '*' for any" in far
    for fine in ('["*"]', '["connect_four-v1", "tictactoe"]'):
        manifest = MANIFEST.replace("1.0.0", f"1.0.{len(fine)}") + f"scenarios = {fine}\n"
        ok = world.upload(tar_gz({"agent.toml": manifest.encode(), "agent.py": b"X = 0\n"}))
        assert ok.status_code == 201, ok.text


def test_a_nul_in_the_description_is_422_naming_the_field(world: World) -> None:
    manifest = MANIFEST + 'description = "evil\\u0000bytes"\n'
    message = refused(world, {"agent.toml": manifest.encode()})
    assert message.endswith(
        "field 'description' contains a NUL character (\\x00), which is not allowed in a manifest"
    )


def test_a_misspelt_manifest_key_is_one_422_with_a_suggestion(world: World) -> None:
    manifest = MANIFEST.replace("entrypoint", "entrypiont")
    message = refused(world, {"agent.toml": manifest.encode()})
    assert message.endswith(
        "field 'entrypiont' = 'agent.py': unknown key (did you mean `entrypoint`?)"
    )


def test_a_direct_reference_in_requirements_is_422(world: World) -> None:
    manifest = MANIFEST + 'requirements = ["evil @ http://127.0.0.1:9/evil-0.1.tar.gz"]\n'
    message = refused(world, {"agent.toml": manifest.encode()})
    assert "field 'requirements'" in message
    assert "'evil @ http://127.0.0.1:9/evil-0.1.tar.gz' is a direct reference" in message
    assert "allowed: a PEP 508 package name" in message
