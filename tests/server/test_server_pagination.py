"""Cursor (keyset) pages over HTTP: matches, tournaments, agents; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.server.settings import Settings
from devspark.services.accounts import TokenService
from devspark.services.playing import ensure_scenario
from devspark.store.models import AgentRow, MatchResultRow, MatchRow, TournamentRow, UserRow

SECRET = "pagination-test-secret-" + "x" * 32
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
T0 = datetime(2026, 12, 1, tzinfo=UTC)
MATCHES = "/api/v1/matches"


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, module_server_environ: dict[str, str]
) -> Iterator[TestClient]:
    """An app over a database holding 60 matches, 9 tournaments and 130 agents."""
    data = tmp_path_factory.mktemp("pagination") / "data"
    settings = Settings.from_env(
        data_dir=data, environ=module_server_environ, rate_limit="off", rate_limit_ip="off"
    )
    app = create_app(settings, tokens=TokenService(SECRET), hasher=CHEAP)
    with TestClient(app) as test_client:
        with factory(test_client)() as session:
            _seed(session)
        yield test_client


def factory(client: TestClient) -> sessionmaker[Session]:
    made: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
    return made


def _seed(session: Session) -> None:
    ada, bob = UserRow(username="ada"), UserRow(username="bob")
    session.add_all([ada, bob])
    for scenario in ("tictactoe-v1", "connect_four-v1"):
        ensure_scenario(session, scenario)
    cups = [
        TournamentRow(
            owner_id=(ada, bob)[i % 2].id,
            scenario_id="tictactoe-v1",
            format="round_robin",
            params={"agents": ["builtin:random", "builtin:minimax"]},
            status=("cancelled", "finished")[i % 3 == 0],
            created_at=T0 + timedelta(seconds=i // 2),
        )
        for i in range(9)
    ]
    session.add_all(cups)
    session.flush()
    for i in range(60):
        match = MatchRow(
            scenario_id=("tictactoe-v1", "connect_four-v1")[i % 3 == 0],
            status=("finished", "failed")[i % 2],
            tournament_id=cups[0].id if i % 4 == 0 else None,
            created_at=T0 + timedelta(seconds=i // 3),  # three matches per instant
        )
        session.add(match)
        session.flush()
        for seat, agent in enumerate(("builtin:minimax", f"builtin:p{i % 5}")):
            session.add(MatchResultRow(match_id=match.id, seat=seat, agent_ref=agent, status="ok"))
    session.add_all(
        AgentRow(owner_id=(ada, bob)[i % 2].id, name=f"bot{i}", created_at=T0 + timedelta(i // 4))
        for i in range(130)
    )
    session.commit()


def walk(client: TestClient, url: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of ``url`` read by cursor from its head, and how many pages it took."""
    items: list[dict[str, Any]] = []
    cursor, pages = "", 0
    while True:
        response = client.get(url, params={**params, "cursor": cursor})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] is None and body["offset"] == 0
        items += body["items"]
        pages += 1
        if body["next_cursor"] is None:
            return items, pages
        cursor = body["next_cursor"]


def offset_list(client: TestClient, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of ``url`` read by offset (the order the cursor walk must match)."""
    body = client.get(url, params={**params, "limit": 200}).json()
    assert body["total"] == len(body["items"]) and body["next_cursor"] is None
    items: list[dict[str, Any]] = body["items"]
    return items


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status": "failed"},
        {"scenario": "connect_four"},
        {"agent": "builtin:p3"},
        {"agent": "builtin:minimax", "status": "finished", "scenario": "tictactoe"},
    ],
)
def test_match_cursor_walk_equals_the_offset_list_with_filters(
    client: TestClient, params: dict[str, Any]
) -> None:
    expected = offset_list(client, MATCHES, **params)
    items, pages = walk(client, MATCHES, limit=7, **params)
    assert [m["id"] for m in items] == [m["id"] for m in expected]
    assert pages == max(1, -(-len(expected) // 7))
    keys = [(m["created_at"], m["id"]) for m in items]
    assert keys == sorted(keys, reverse=True)


def test_match_walk_skips_matches_stored_during_it(client: TestClient) -> None:
    before = [m["id"] for m in offset_list(client, MATCHES)]
    first = client.get(MATCHES, params={"limit": 10}).json()
    assert first["total"] == len(before)
    with factory(client)() as session:
        late = MatchRow(scenario_id="tictactoe-v1", status="finished", created_at=T0 + timedelta(1))
        session.add(late)
        session.commit()
        late_id = str(late.id)
    seen = [m["id"] for m in first["items"]]
    cursor = first["next_cursor"]
    while cursor is not None:
        body = client.get(MATCHES, params={"limit": 10, "cursor": cursor}).json()
        seen += [m["id"] for m in body["items"]]
        cursor = body["next_cursor"]
    assert seen == before
    assert client.get(MATCHES, params={"limit": 1}).json()["items"][0]["id"] == late_id


def test_tournament_cursor_walks(client: TestClient) -> None:
    played = {m["tournament_id"] for m in offset_list(client, MATCHES)} - {None}
    (cup,) = played  # the one tournament with matches
    for url, params in [
        ("/api/v1/tournaments", {}),
        ("/api/v1/tournaments", {"status": "cancelled"}),
        (f"/api/v1/tournaments/{cup}/matches", {}),
    ]:
        expected = offset_list(client, url, **params)
        items, _ = walk(client, url, limit=2, **params)
        assert [t["id"] for t in items] == [t["id"] for t in expected] and len(expected) > 2


def test_agent_cursor_walk_beyond_the_registry_page_limit(client: TestClient) -> None:
    with factory(client)() as session:
        bob = session.scalars(select(UserRow).where(UserRow.username == "bob")).one().id
    expected = offset_list(client, "/api/v1/agents")
    items, pages = walk(client, "/api/v1/agents", limit=120)
    assert [a["id"] for a in items] == [a["id"] for a in expected] and pages == 2
    mine, _ = walk(client, "/api/v1/agents", limit=20, owner_id=str(bob))
    assert [a["id"] for a in mine] == [a["id"] for a in expected if a["owner_id"] == str(bob)]


def test_offset_page_gives_a_cursor_that_continues_it(client: TestClient) -> None:
    expected = [m["id"] for m in offset_list(client, MATCHES)]
    page = client.get(MATCHES, params={"offset": 5, "limit": 5}).json()
    assert page["total"] == len(expected)
    rest = client.get(MATCHES, params={"cursor": page["next_cursor"], "limit": 200}).json()
    assert [m["id"] for m in page["items"] + rest["items"]] == expected[5:]


@pytest.mark.parametrize("cursor", ["garbage", "eyJrIjoibWF0Y2hlcyJ9", "e30"])
def test_malformed_cursor_is_422_naming_the_field(client: TestClient, cursor: str) -> None:
    response = client.get(MATCHES, params={"cursor": cursor})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    assert error["message"].startswith(f"cursor={cursor!r}")
    assert "expected the next_cursor of a previous page" in error["message"]


def test_too_long_cursor_is_422(client: TestClient) -> None:
    response = client.get(MATCHES, params={"cursor": "a" * 600})
    assert response.status_code == 422 and "cursor" in response.json()["error"]["message"]


def test_cursor_of_another_list_is_422(client: TestClient) -> None:
    cursor = client.get("/api/v1/tournaments", params={"limit": 1}).json()["next_cursor"]
    response = client.get(MATCHES, params={"cursor": cursor})
    assert response.status_code == 422
    assert "'tournaments' list, not of 'matches'" in response.json()["error"]["message"]


@pytest.mark.parametrize("url", [MATCHES, "/api/v1/tournaments", "/api/v1/agents"])
def test_cursor_with_offset_is_422(client: TestClient, url: str) -> None:
    cursor = client.get(url, params={"limit": 1}).json()["next_cursor"]
    response = client.get(url, params={"cursor": cursor, "offset": 1})
    assert response.status_code == 422
    assert "offset=1 cannot be combined with cursor" in response.json()["error"]["message"]


def test_lists_without_cursors_answer_next_cursor_null(client: TestClient) -> None:
    body = client.get("/api/v1/scenarios", params={"limit": 1}).json()
    assert body["next_cursor"] is None and body["total"] > 1


def test_openapi_documents_cursor_next_cursor_and_a_nullable_total(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    parameters = schema["paths"][MATCHES]["get"]["parameters"]
    assert "cursor" in {p["name"] for p in parameters}
    page = schema["components"]["schemas"]["Page_MatchPublic_"]["properties"]
    assert {"type": "null"} in page["total"]["anyOf"]
    assert "cursor" in page["total"]["description"]
    assert {"type": "null"} in page["next_cursor"]["anyOf"]
