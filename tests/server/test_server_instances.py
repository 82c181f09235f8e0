"""``/api/v1/instances``: start, list, read, stop, roll out service instances; the graph."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_helpers import login
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.server.settings import Settings
from devspark.services.instances import claim_instances, instance_stopped
from devspark.services.queue import WorkerIdentity, register_worker
from devspark.store.models import ServiceInstanceRow, UserRow, WorkerRow

INSTANCE_KEYS = {
    "id",
    "agent",
    "agent_name",
    "version",
    "handles",
    "concurrency",
    "state",
    "desired",
    "load",
    "in_flight",
    "tasks_done",
    "tasks_failed",
    "restarts",
    "worker_id",
    "heartbeat_at",
    "error",
    "retry_at",
    "created_at",
    "replaces",
    "owner_id",
}


@pytest.fixture
def client(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)
    with TestClient(create_app(settings, worker=False)) as test_client:
        yield test_client


def sessions(client: TestClient) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
    return factory


def set_role(client: TestClient, username: str, role: str) -> None:
    with sessions(client)() as session:
        session.execute(update(UserRow).where(UserRow.username == username).values(role=role))
        session.commit()


def start(client: TestClient, headers: dict[str, str], **body: object) -> list[dict[str, object]]:
    response = client.post(
        "/api/v1/instances", json={"agent": "builtin:echo", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    instances: list[dict[str, object]] = response.json()["instances"]
    return instances


def test_start_returns_the_registered_instances(client: TestClient) -> None:
    ada = login(client, "ada")
    instances = start(client, ada, replicas=2)
    assert len(instances) == 2 and set(instances[0]) == INSTANCE_KEYS
    first = instances[0]
    assert (first["agent"], first["state"], first["desired"]) == (
        "builtin:echo",
        "registered",
        "running",
    )
    assert first["handles"] == ["echo", "echo.slow"]
    got = client.get(f"/api/v1/instances/{first['id']}", headers=ada)
    assert got.status_code == 200 and got.json()["id"] == first["id"]


def test_an_unknown_agent_is_422_with_the_near_name(client: TestClient) -> None:
    response = client.post(
        "/api/v1/instances", json={"agent": "builtin:ecoh"}, headers=login(client, "ada")
    )
    assert response.status_code == 422, response.text
    assert "`builtin:echo`" in response.json()["error"]["message"]


def test_a_plain_agent_and_bad_replicas_are_422(client: TestClient) -> None:
    ada = login(client, "ada")
    plain = client.post("/api/v1/instances", json={"agent": "builtin:grim"}, headers=ada)
    assert plain.status_code == 422 and "not a service agent" in plain.text
    many = client.post(
        "/api/v1/instances", json={"agent": "builtin:echo", "replicas": 65}, headers=ada
    )
    assert many.status_code == 422 and "replicas=65" in many.text


def test_reads_need_an_account_and_writes_a_role_that_creates(client: TestClient) -> None:
    assert client.get("/api/v1/instances").status_code == 401
    viewer = login(client, "vera")
    set_role(client, "vera", "viewer")
    assert client.get("/api/v1/instances", headers=viewer).status_code == 200
    refused = client.post("/api/v1/instances", json={"agent": "builtin:echo"}, headers=viewer)
    assert refused.status_code == 403, refused.text


def test_the_list_filters_by_capability_and_state(client: TestClient) -> None:
    ada = login(client, "ada")
    echo = start(client, ada)
    best = start(client, ada, agent="builtin:connect-four-alphabeta")
    page = client.get(
        "/api/v1/instances", params={"capability": "connect_four.best_move"}, headers=ada
    ).json()
    assert (page["total"], [i["id"] for i in page["items"]]) == (1, [best[0]["id"]])
    page = client.get("/api/v1/instances", params={"state": "registered"}, headers=ada).json()
    assert page["total"] == 2
    bad = client.get("/api/v1/instances", params={"state": "onlin"}, headers=ada)
    assert bad.status_code == 422 and "`online`" in bad.json()["error"]["message"]
    assert echo


def test_the_owner_stops_an_instance_others_may_not(client: TestClient) -> None:
    ada, bob = login(client, "ada"), login(client, "bob")
    (instance,) = start(client, ada)
    refused = client.delete(f"/api/v1/instances/{instance['id']}", headers=bob)
    assert refused.status_code == 403, refused.text
    stopped = client.delete(f"/api/v1/instances/{instance['id']}", headers=ada)
    assert stopped.status_code == 202, stopped.text
    assert (stopped.json()["state"], stopped.json()["desired"]) == ("offline", "stopped")
    missing = client.delete(f"/api/v1/instances/{uuid.uuid4()}", headers=ada)
    assert missing.status_code == 404


def test_a_placed_instance_drains_when_stopped(client: TestClient) -> None:
    ada = login(client, "ada")
    (instance,) = start(client, ada)
    with sessions(client)() as session:
        worker = register_worker(session, WorkerIdentity(name="w", host="h", pid=1))
        claim_instances(session, worker, 1)
    stopped = client.delete(f"/api/v1/instances/{instance['id']}", headers=ada).json()
    assert (stopped["state"], stopped["worker_id"]) == ("maintenance", str(worker))


def test_rollout_replaces_instances_of_another_version(client: TestClient) -> None:
    ada = login(client, "ada")
    (old,) = start(client, ada)
    with sessions(client)() as session:
        session.execute(
            update(ServiceInstanceRow)
            .where(ServiceInstanceRow.id == uuid.UUID(str(old["id"])))
            .values(version="0.9.0")
        )
        session.commit()
    response = client.post("/api/v1/instances/rollout", json={"agent": "builtin:echo"}, headers=ada)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["replacing"] == 1 and body["instances"][0]["replaces"] == old["id"]


def test_the_graph_is_empty_without_tasks(client: TestClient) -> None:
    ada = login(client, "ada")
    body = client.get("/api/v1/instances/graph", params={"since_s": 60}, headers=ada).json()
    assert body == {"nodes": [], "edges": []}


def test_an_instance_reads_its_workers_heartbeat_and_a_failed_placement_its_retry(
    client: TestClient,
) -> None:
    ada = login(client, "ada")
    (instance,) = start(client, ada)
    ident = uuid.UUID(str(instance["id"]))
    assert (instance["heartbeat_at"], instance["retry_at"]) == (None, None)
    with sessions(client)() as session:
        worker = register_worker(session, WorkerIdentity(name="w", host="h", pid=1))
        claim_instances(session, worker, 1)
        beat = datetime.now(UTC) + timedelta(seconds=30)
        session.execute(update(WorkerRow).where(WorkerRow.id == worker).values(heartbeat_at=beat))
        session.commit()
    got = client.get(f"/api/v1/instances/{ident}", headers=ada).json()
    assert datetime.fromisoformat(got["heartbeat_at"]) == beat
    listed = client.get("/api/v1/instances", headers=ada).json()["items"]
    assert [datetime.fromisoformat(i["heartbeat_at"]) for i in listed] == [beat]
    with sessions(client)() as session:
        instance_stopped(session, ident, error="cannot unpack its agent: bad archive")
    failed = client.get(f"/api/v1/instances/{ident}", headers=ada).json()
    assert (failed["state"], failed["worker_id"]) == ("error", None)
    assert failed["error"] == "cannot unpack its agent: bad archive"
    assert failed["retry_at"] is not None
    assert datetime.fromisoformat(failed["heartbeat_at"]) < beat


def test_the_instance_topic_streams_state_changes(client: TestClient) -> None:
    ada = login(client, "ada")
    (instance,) = start(client, ada)
    token = ada["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(f"/api/v1/ws?token={token}") as ws:
        ws.receive_json()  # hello
        ws.send_json({"type": "subscribe", "topic": f"instance:{instance['id']}"})
        assert ws.receive_json()["type"] == "subscribed"
        client.delete(f"/api/v1/instances/{instance['id']}", headers=ada)
        event = ws.receive_json()
    assert event == {
        "topic": f"instance:{instance['id']}",
        "type": "instance.state",
        "id": instance["id"],
        "state": "offline",
        "load": 0.0,
        "in_flight": 0,
        "error": None,
    }
