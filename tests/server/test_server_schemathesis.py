"""Schemathesis ``--checks all`` against the served OpenAPI document, stateful phase included.

The same run as ``st run --checks all`` (Schemathesis' engine, every phase: examples,
coverage, fuzzing, stateful), in process through ASGI, with an administrator's bearer
token, a bounded and deterministic number of examples per operation. Every check must
pass: no server error, every status and body documented, 405s listing the path's methods,
public reads declared public, invalid data refused, valid data accepted.

One check is switched off for twelve operations, each for a reason the schema cannot
express: ``positive_data_acceptance`` on the agent uploads (a valid body must be a real
agent archive, which JSON Schema cannot describe), on creating matches and tournaments
(a valid body names agents that exist and scenario options that fit the scenario, i.e.
state on the server), on starting and rolling out service instances (a service agent
that exists), on submitting tasks (a type that a running instance handles) and on the
four lists read by cursor (a valid ``cursor`` is a ``next_cursor`` the server gave, and
it excludes an ``offset``). Negative data is still checked there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events
from sqlalchemy import update

from devspark.app import create_app
from devspark.server.settings import Settings
from devspark.store.models import UserRow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
MAX_EXAMPLES = 8
PHASES = ["examples", "coverage", "fuzzing", "stateful"]
STATE_DEPENDENT = [
    ("/api/v1/matches", "POST"),
    ("/api/v1/tournaments", "POST"),
    ("/api/v1/instances", "POST"),
    ("/api/v1/instances/rollout", "POST"),
    ("/api/v1/tasks", "POST"),
    ("/api/v1/tasks/batch", "POST"),
]
ARCHIVES = [("/api/v1/agents", "POST"), ("/api/v1/agents/{agent_id}", "PUT")]
KEYSET_LISTS = [
    ("/api/v1/matches", "GET"),
    ("/api/v1/tournaments", "GET"),
    ("/api/v1/tournaments/{tournament_id}/matches", "GET"),
    ("/api/v1/agents", "GET"),
]


def run_config(headers: dict[str, str]) -> SchemathesisConfig:
    """``--checks all`` for every phase, minus the documented per-operation exclusions."""
    config = SchemathesisConfig.from_dict(
        {
            "headers": headers,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            "phases": {phase: {"enabled": True} for phase in PHASES},
            "operations": [
                {"include-name": f"{method} {path}", "checks": {"positive_data_acceptance": {}}}
                for path, method in STATE_DEPENDENT + ARCHIVES + KEYSET_LISTS
            ],
        }
    )
    project = config.projects.get_default()
    project.checks.update(included_check_names=["all"])  # as `st run --checks all`
    for operation in project.operations.operations:  # explicit, so "all" does not win
        operation.checks.update(excluded_check_names=["positive_data_acceptance"])
    return config


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    settings = Settings.from_env(
        data_dir=tmp_path_factory.mktemp("schemathesis") / "data",
        dev_mode=True,
        rate_limit="off",  # generated traffic would otherwise spend the quota
        rate_limit_ip="off",
        environ={},
    )
    application = create_app(settings, hasher=CHEAP)
    with TestClient(application):  # startup: migrations; the state stays on the app
        yield application


@pytest.fixture(scope="module")
def admin_token(app: FastAPI) -> str:
    client = TestClient(app)
    credentials = {"username": "schemathesis", "password": PASSWORD}
    assert client.post("/api/v1/auth/register", json=credentials).status_code == 201
    with app.state.session_factory() as session:
        session.execute(
            update(UserRow).where(UserRow.username == "schemathesis").values(role="admin")
        )
        session.commit()
    response = client.post("/api/v1/auth/login", json=credentials)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _failures(event: events.ScenarioFinished) -> Iterator[str]:
    for case_id, nodes in event.recorder.checks.items():
        for node in nodes:
            if node.failure_info is None:
                continue
            failure = node.failure_info.failure
            line = f"{node.name} on {event.recorder.label}: {failure.title}: {failure.message}"
            interaction = event.recorder.interactions.get(case_id)
            if interaction is not None and interaction.response is not None:
                request = interaction.request
                line += (
                    f"\n    {request.method} {request.uri} body={str(request.body)[:300]}"
                    f"\n    -> {interaction.response.status_code} "
                    f"{interaction.response.content[:300]!r}"
                )
            yield line


@pytest.mark.timeout(300)  # one test runs the whole engine: about 50 s on 2 busy cores
def test_api_passes_every_schemathesis_check(app: FastAPI, admin_token: str) -> None:
    config = run_config({"Authorization": f"Bearer {admin_token}"})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    for operation in schema.get_all_operations():  # the exclusions hit what they name
        api = operation.ok()
        off = not schema.config.checks_config_for(operation=api).positive_data_acceptance.enabled
        assert off == (
            (api.path, api.method.upper()) in STATE_DEPENDENT + ARCHIVES + KEYSET_LISTS
        ), api.label
    problems: list[str] = []
    phases: dict[str, Any] = {}
    scenarios = 0
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            scenarios += 1
            problems.extend(_failures(event))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            problems.append(f"engine error: {event}")
        elif isinstance(event, events.PhaseFinished):
            phases[event.phase.name.value] = event.status.value
    unique = sorted(set(problems))
    assert not unique, f"{len(unique)} Schemathesis failures:\n" + "\n".join(unique)
    for phase in PHASES:  # each phase ran (a skipped stateful phase would prove nothing)
        assert phases.get(phase) == "success", phases
    assert scenarios > 50, scenarios
