"""``/api/v1/tasks``: submit (async, ``?wait``, batch), read, list, and the ``task:<id>`` topic.

No embedded worker: a test plays the worker with the worker-side services
(:mod:`devspark.services.tasks`), publishing on the app's live hub as a hosting
runtime in the server does.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_helpers import login
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.core.ports import TaskOutcome
from devspark.core.status import TASK_STATUSES
from devspark.server.settings import Settings
from devspark.services.live import LiveHub
from devspark.services.queue import WorkerIdentity, register_worker
from devspark.services.tasks import claim_tasks, finish_task, task_progress, task_started
from devspark.testing.waiting import wait_until

TASK_KEYS = {
    "id",
    "type",
    "payload",
    "to",
    "priority",
    "status",
    "attempts",
    "max_attempts",
    "timeout_s",
    "instance_id",
    "parent_id",
    "result",
    "error",
    "progress",
    "created_at",
    "assigned_at",
    "started_at",
    "finished_at",
}


@pytest.fixture
def client(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)
    with TestClient(create_app(settings, worker=False)) as test_client:
        yield test_client


@pytest.fixture
def ada(client: TestClient) -> dict[str, str]:
    return login(client, "ada")


@pytest.fixture
def echo(client: TestClient, ada: dict[str, str]) -> str:
    response = client.post("/api/v1/instances", json={"agent": "builtin:echo"}, headers=ada)
    assert response.status_code == 201, response.text
    instance_id: str = response.json()["instances"][0]["id"]
    return instance_id


class FakeWorker:
    """Plays a hosting runtime: claims echo tasks and answers each with its payload."""

    def __init__(self, client: TestClient, instance_id: str) -> None:
        self.factory: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
        self.hub: LiveHub = client.app.state.live  # type: ignore[attr-defined]
        self.instance_id = uuid.UUID(instance_id)
        with self.factory() as session:
            self.id = register_worker(session, WorkerIdentity(name="fake", host="h", pid=1))

    def serve_one(self, progress: Any = None, *, publish: bool = True) -> None:
        """Claim one echo task and answer it; ``publish=False``: as a worker this server cannot hear."""
        hub = self.hub if publish else None
        with self.factory() as session:
            (task,) = wait_until(
                lambda: claim_tasks(session, self.id, {"echo": 1}, hub=hub), "a queued task"
            )
            task_started(session, task.id, self.instance_id, hub=hub)
            if progress is not None:
                task_progress(session, task.id, progress, hub=hub)
            outcome = TaskOutcome(ok=True, result=task.payload)
            finish_task(session, task.id, self.id, outcome, hub=hub)


@pytest.mark.usefixtures("echo")
def test_submit_answers_202_with_the_id_and_status(client: TestClient, ada: dict[str, str]) -> None:
    response = client.post("/api/v1/tasks", json={"type": "echo", "payload": [1]}, headers=ada)
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"id", "status"} and body["status"] == "queued"
    task = client.get(f"/api/v1/tasks/{body['id']}", headers=ada).json()
    assert set(task) == TASK_KEYS
    assert (task["payload"], task["priority"], task["timeout_s"]) == ([1], 5, 30)


def test_wait_answers_200_with_the_finished_task(
    client: TestClient, ada: dict[str, str], echo: str
) -> None:
    worker = FakeWorker(client, echo)
    serving = threading.Thread(target=worker.serve_one)
    serving.start()
    response = client.post(
        "/api/v1/tasks", params={"wait": 30}, json={"type": "echo", "payload": "hi"}, headers=ada
    )
    serving.join(timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["result"], body["instance_id"]) == ("succeeded", "hi", echo)


def test_wait_rereads_a_task_finished_where_no_event_reaches_it(
    client: TestClient, ada: dict[str, str], echo: str
) -> None:
    worker = FakeWorker(client, echo)
    serving = threading.Thread(target=worker.serve_one, kwargs={"publish": False})
    serving.start()
    response = client.post(
        "/api/v1/tasks", params={"wait": 30}, json={"type": "echo", "payload": 3}, headers=ada
    )
    serving.join(timeout=60)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["result"]) == ("succeeded", 3)


@pytest.mark.usefixtures("echo")
def test_wait_answers_202_when_the_task_is_not_done_in_time(
    client: TestClient, ada: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/tasks", params={"wait": 0.2}, json={"type": "echo"}, headers=ada
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    assert (
        client.post(
            "/api/v1/tasks", params={"wait": 61}, json={"type": "echo"}, headers=ada
        ).status_code
        == 422
    )


@pytest.mark.usefixtures("echo")
def test_refusals_are_422_naming_the_field_and_the_near_type(
    client: TestClient, ada: dict[str, str]
) -> None:
    unknown = client.post("/api/v1/tasks", json={"type": "ecko"}, headers=ada)
    assert unknown.status_code == 422 and "`echo`" in unknown.json()["error"]["message"]
    priority = client.post("/api/v1/tasks", json={"type": "echo", "priority": 0}, headers=ada)
    assert priority.status_code == 422 and "priority=0" in priority.text
    extra = client.post("/api/v1/tasks", json={"type": "echo", "priorty": 2}, headers=ada)
    assert extra.status_code == 422 and "`priority`" in extra.text
    big = client.post("/api/v1/tasks", json={"type": "echo", "payload": "x" * 300_000}, headers=ada)
    assert big.status_code == 422 and "limit is 262144" in big.text


@pytest.mark.usefixtures("echo")
def test_a_batch_is_all_or_none(client: TestClient, ada: dict[str, str]) -> None:
    bad = client.post(
        "/api/v1/tasks/batch",
        json={"tasks": [{"type": "echo"}, {"type": "echo", "timeout_s": 0}]},
        headers=ada,
    )
    assert bad.status_code == 422 and "tasks[1].timeout_s=0" in bad.json()["error"]["message"]
    assert client.get("/api/v1/tasks", headers=ada).json()["total"] == 0
    good = client.post(
        "/api/v1/tasks/batch",
        json={"tasks": [{"type": "echo", "payload": i} for i in range(3)]},
        headers=ada,
    )
    assert good.status_code == 202, good.text
    assert [t["status"] for t in good.json()["tasks"]] == ["queued"] * 3


@pytest.mark.usefixtures("echo")
def test_the_list_filters_by_status_and_type(client: TestClient, ada: dict[str, str]) -> None:
    for _ in range(2):
        client.post("/api/v1/tasks", json={"type": "echo"}, headers=ada)
    page = client.get(
        "/api/v1/tasks", params={"status": "queued", "type": "echo"}, headers=ada
    ).json()
    assert (page["total"], len(page["items"])) == (2, 2)
    bad = client.get("/api/v1/tasks", params={"status": "queud"}, headers=ada)
    assert bad.status_code == 422 and "`queued`" in bad.text


def test_counts_name_every_status(client: TestClient, ada: dict[str, str], echo: str) -> None:
    assert client.get("/api/v1/tasks/counts").status_code == 401
    empty = client.get("/api/v1/tasks/counts", headers=ada)
    assert empty.status_code == 200 and empty.json() == dict.fromkeys(TASK_STATUSES, 0)
    for payload in range(3):
        client.post("/api/v1/tasks", json={"type": "echo", "payload": payload}, headers=ada)
    FakeWorker(client, echo).serve_one()
    counts = client.get("/api/v1/tasks/counts", headers=ada).json()
    assert counts == {**dict.fromkeys(TASK_STATUSES, 0), "queued": 2, "succeeded": 1}
    other = client.get("/api/v1/tasks/counts", params={"type": "echo.slow"}, headers=ada)
    assert other.json() == dict.fromkeys(TASK_STATUSES, 0)


def test_reads_need_an_account_and_submits_a_role_that_creates(
    client: TestClient, echo: str
) -> None:
    assert client.get("/api/v1/tasks").status_code == 401
    assert (
        client.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=login(client, "bob")).status_code == 404
    )
    assert client.post("/api/v1/tasks", json={"type": "echo"}).status_code == 401
    assert echo


def test_the_task_topic_streams_progress_and_the_result(
    client: TestClient, ada: dict[str, str], echo: str
) -> None:
    token = ada["Authorization"].removeprefix("Bearer ")
    task_id = client.post("/api/v1/tasks", json={"type": "echo", "payload": 7}, headers=ada).json()[
        "id"
    ]
    with client.websocket_connect(f"/api/v1/ws?token={token}") as ws:
        ws.receive_json()  # hello
        ws.send_json({"type": "subscribe", "topic": f"task:{task_id}"})
        assert ws.receive_json()["type"] == "subscribed"
        FakeWorker(client, echo).serve_one(progress={"step": 1})
        events = [ws.receive_json() for _ in range(4)]
    assert [e["type"] for e in events] == [
        "task.assigned",
        "task.running",
        "task.progress",
        "task.finished",
    ]
    assert events[2]["data"] == {"step": 1}
    assert (events[3]["status"], events[3]["result"]) == ("succeeded", 7)
