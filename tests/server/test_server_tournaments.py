"""Tournaments, matches and leaderboards on the wire: create, start, run, cancel, RBAC."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.scenarios.tictactoe import TicTacToe
from devspark.server.settings import Settings
from devspark.services.tournaments import create_tournament
from devspark.store.models import AuditLogRow, MatchRow, TournamentRow, UserRow
from devspark.worker.engine import Worker

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
TOURNAMENTS = "/api/v1/tournaments"
BODY: dict[str, Any] = {
    "scenario": "tictactoe",
    "format": "round_robin",
    "agents": ["builtin:minimax", "builtin:random"],
    "rounds": 2,
    "seed": 3,
    "isolation": "trusted",
}


@pytest.fixture
def client(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)
    with TestClient(create_app(settings, hasher=CHEAP)) as test_client:
        yield test_client


def factory(client: TestClient) -> sessionmaker[Session]:
    made: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
    return made


def account(client: TestClient, username: str, *, role: str = "user") -> dict[str, str]:
    """Register and log in ``username``; return its bearer headers."""
    created = client.post(
        "/api/v1/auth/register", json={"username": username, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    if role != "user":
        with factory(client)() as session:
            session.scalars(select(UserRow).where(UserRow.username == username)).one().role = role
            session.commit()
    tokens = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def create(client: TestClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post(TOURNAMENTS, json={**BODY, **changes}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(client: TestClient, tournament_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = client.get(f"{TOURNAMENTS}/{tournament_id}").json()
        if body["status"] == status:
            return body
        assert time.monotonic() < deadline, f"tournament still {body['status']!r}: {body}"
        time.sleep(0.1)


def test_round_robin_runs_to_standings_matches_and_leaderboard(client: TestClient) -> None:
    ada = account(client, "ada")
    created = create(client, ada)
    assert created["status"] == "created" and created["scenario_id"] == "tictactoe-v1"
    assert created["agents"] == BODY["agents"] and created["matches"]["total"] == 0
    tid = created["id"]
    early = client.get(f"{TOURNAMENTS}/{tid}/standings")
    assert early.status_code == 409 and early.json()["error"]["code"] == "failed_precondition"

    started = client.post(f"{TOURNAMENTS}/{tid}/start", headers=ada)
    assert started.status_code == 202 and started.json()["status"] == "running"
    again = client.post(f"{TOURNAMENTS}/{tid}/start", headers=ada)
    assert again.status_code == 409

    done = wait_for(client, tid, "finished")
    assert done["matches"]["finished"] == done["matches"]["total"] == 4
    assert done["matches"]["queued"] == done["matches"]["running"] == 0

    table = client.get(f"{TOURNAMENTS}/{tid}/standings").json()
    assert [line["agent"] for line in table["items"]] == ["builtin:minimax", "builtin:random"]
    assert table["items"][0]["rank"] == 1 and table["total"] == 2

    matches = client.get(f"{TOURNAMENTS}/{tid}/matches", params={"limit": 3}).json()
    assert matches["total"] == 4 and len(matches["items"]) == 3
    match = client.get(f"/api/v1/matches/{matches['items'][0]['id']}").json()
    assert match["status"] == "finished" and match["tournament_id"] == tid
    assert match["isolation"] == "trusted" and len(match["results"]) == 2
    assert sorted(r["agent"] for r in match["results"]) == sorted(BODY["agents"])
    assert client.get(f"/api/v1/matches/{uuid.uuid4()}").status_code == 404

    board = client.get("/api/v1/leaderboards", params={"scenario": "tictactoe"}).json()
    assert [e["agent"] for e in board["items"]] == ["builtin:minimax", "builtin:random"]
    assert board["items"][0]["tournament_id"] == tid
    assert client.get("/api/v1/leaderboards", params={"scenario": "nope"}).status_code == 404

    listed = client.get(TOURNAMENTS, params={"status": "finished"}).json()
    assert [t["id"] for t in listed["items"]] == [tid] and listed["total"] == 1

    with factory(client)() as session:
        entries = session.scalars(
            select(AuditLogRow).where(AuditLogRow.target_id == tid).order_by(AuditLogRow.at)
        ).all()
    assert [e.action for e in entries] == ["tournament.create", "tournament.start"]
    assert all(e.correlation_id for e in entries)


def test_cancel_created_and_running_tournaments(client: TestClient) -> None:
    ada = account(client, "ada")
    first = create(client, ada)
    response = client.post(
        f"{TOURNAMENTS}/{first['id']}/cancel", headers={**ada, "X-Request-ID": "cancel-1"}
    )
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert client.post(f"{TOURNAMENTS}/{first['id']}/start", headers=ada).status_code == 409

    # Many games, cancelled once play is under way: the worker stops before the next match.
    second = create(client, ada, rounds=100)
    assert client.post(f"{TOURNAMENTS}/{second['id']}/start", headers=ada).status_code == 202
    deadline = time.monotonic() + 60
    while client.get(f"{TOURNAMENTS}/{second['id']}").json()["matches"]["finished"] < 1:
        assert time.monotonic() < deadline, "no match of the tournament finished"
        time.sleep(0.02)
    cancelled = client.post(f"{TOURNAMENTS}/{second['id']}/cancel", headers=ada)
    acknowledged = datetime.now(UTC)  # the cancel is committed once its answer is here
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # Claims take turns: once a match created after the cancel has finished, the
    # tournament's turn has come and gone (a cancelled one's matches are never claimed).
    marker = client.post(
        "/api/v1/matches",
        json={"scenario": "tictactoe", "agents": BODY["agents"], "isolation": "trusted"},
        headers=ada,
    ).json()
    while client.get(f"/api/v1/matches/{marker['id']}").json()["status"] != "finished":
        assert time.monotonic() < deadline, "the marker match was never played"
        time.sleep(0.02)
    with factory(client)() as session:
        tournament = session.get(TournamentRow, uuid.UUID(second["id"]))
        assert tournament is not None and tournament.finished_at is not None
        assert tournament.finished_at <= acknowledged
        rows = session.scalars(
            select(MatchRow).where(MatchRow.tournament_id == tournament.id)
        ).all()
    finished = [row for row in rows if row.status == "finished"]
    assert finished and all(row.started_at and row.finished_at for row in finished)
    # No match starts after the cancel is acknowledged (marking a match running is
    # ordered against the cancel); at most the one already in progress ends after it.
    started_late = [row for row in rows if row.started_at and row.started_at > acknowledged]
    assert started_late == [], [(row.started_at, row.finished_at) for row in started_late]
    late = [row for row in finished if row.finished_at > acknowledged]  # type: ignore[operator]
    assert len(late) <= 1, [(row.started_at, row.finished_at) for row in late]
    # What never started ended with the cancel: nothing left queued or running.
    assert {row.status for row in rows} <= {"finished", "cancelled"}
    never = [row for row in rows if row.status == "cancelled"]
    assert all(row.started_at is None for row in never)
    assert all(row.finished_at == tournament.finished_at for row in never)
    assert len(finished) < 200
    body = client.get(f"{TOURNAMENTS}/{second['id']}").json()
    assert body["status"] == "cancelled" and body["matches"]["finished"] == len(finished)
    assert (body["matches"]["cancelled"], body["matches"]["queued"]) == (len(never), 0)
    listed = client.get("/api/v1/matches", params={"status": "cancelled"}).json()
    assert listed["total"] == len(never)
    with factory(client)() as session:
        entry = session.scalars(
            select(AuditLogRow).where(
                AuditLogRow.target_id == first["id"], AuditLogRow.action == "tournament.cancel"
            )
        ).one()
    assert entry.correlation_id == "cancel-1" and entry.detail == {"previous": "created"}


def test_owner_rules_roles_and_anonymous(client: TestClient) -> None:
    ada, bob = account(client, "ada"), account(client, "bob")
    viewer, admin = account(client, "vic", role="viewer"), account(client, "root", role="admin")
    tid = create(client, ada)["id"]
    for verb in ("start", "cancel"):
        denied = client.post(f"{TOURNAMENTS}/{tid}/{verb}", headers=bob)
        assert denied.status_code == 403, verb
        assert denied.json()["error"]["code"] == "permission_denied"
        assert client.post(f"{TOURNAMENTS}/{tid}/{verb}").status_code == 401
    assert client.post(TOURNAMENTS, json=BODY, headers=viewer).status_code == 403
    assert client.post(TOURNAMENTS, json=BODY).status_code == 401
    assert client.get(f"{TOURNAMENTS}/{tid}").json()["status"] == "created"
    assert client.post(f"{TOURNAMENTS}/{tid}/cancel", headers=admin).status_code == 200


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"agents": ["/etc", "builtin:random"]}, 422),
        ({"agents": ["builtin:nobody", "builtin:random"]}, 422),
        ({"agents": ["builtin:random", "builtin:random"]}, 422),
        ({"format": "knockout"}, 422),
        ({"scenario": "tictactoo"}, 422),
        ({"isolation": "none"}, 422),
    ],
)
def test_create_refuses_bad_bodies(
    client: TestClient, changes: dict[str, Any], status: int
) -> None:
    ada = account(client, "ada")
    response = client.post(TOURNAMENTS, json={**BODY, **changes}, headers=ada)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "swis"}, "format='swis' is not one of: round_robin, swiss"),
        ({"format": "swis"}, "(did you mean `swiss`?)"),
        ({"scenario": "tictacto"}, "scenario='tictacto': Unknown scenario"),
        ({"scenario": "tictacto"}, "Did you mean 'tictactoe'?"),
        ({"isolation": "sandbx"}, "body.isolation: Input should be 'trusted'"),
        ({"isolation": "sandbx"}, "(got 'sandbx') (did you mean `sandbox`?)"),
    ],
)
def test_typos_are_422_naming_the_field_with_the_near_value(
    client: TestClient, changes: dict[str, Any], message: str
) -> None:
    ada = account(client, "ada")
    response = client.post(TOURNAMENTS, json={**BODY, **changes}, headers=ada)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]


def test_a_misspelt_body_key_suggests_the_field_and_shows_no_body_dump(client: TestClient) -> None:
    ada = account(client, "ada")
    body = {key: value for key, value in BODY.items() if key != "agents"}
    response = client.post(TOURNAMENTS, json={**body, "agnets": BODY["agents"]}, headers=ada)
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message.startswith("body.agents: Field required; body.agnets: Extra inputs")
    assert message.endswith("(did you mean `agents`?)")
    assert "{" not in message  # the missing field does not echo the whole body


def _running_tournament(made: sessionmaker[Session], **params: Any) -> uuid.UUID:
    """A tournament marked ``running`` in the database, as a killed server leaves it."""
    with made() as session:
        owner = UserRow(username="owner", role="user")
        session.add(owner)
        session.commit()
        row = create_tournament(
            session,
            owner_id=owner.id,
            scenario="tictactoe",
            format="round_robin",
            agents=["builtin:minimax", "builtin:random"],
            params={"isolation": "trusted", "bootstrap": 20, **params},
        )
        row.status = "running"
        session.commit()
        return row.id


def test_the_embedded_worker_plays_a_tournament_left_running(client: TestClient) -> None:
    tid = _running_tournament(factory(client), rounds=1)
    done = wait_for(client, str(tid), "finished")
    assert done["matches"]["finished"] == done["matches"]["total"] == 2
    standings = client.get(f"{TOURNAMENTS}/{tid}/standings").json()["items"]
    assert {line["agent"] for line in standings} == {"builtin:minimax", "builtin:random"}
    worker: Worker = client.app.state.worker  # type: ignore[attr-defined]
    worker.stop()
    assert worker.wait_stopped(30) and worker.state == "offline"


def _starts(made: sessionmaker[Session], tournament_id: str) -> list[datetime]:
    with made() as session:
        return sorted(
            started
            for started in session.scalars(
                select(MatchRow.started_at).where(
                    MatchRow.tournament_id == uuid.UUID(tournament_id)
                )
            )
            if started is not None
        )


def test_a_long_tournament_yields_its_turn_to_one_started_after_it(client: TestClient) -> None:
    ada = account(client, "ada")
    worker: Worker = client.app.state.worker  # type: ignore[attr-defined]
    worker.pause()  # both are queued before either plays
    long = create(client, ada, rounds=12)  # 24 matches
    short = create(client, ada, rounds=1)  # 2 matches, started after it
    for tournament in (long, short):
        response = client.post(f"{TOURNAMENTS}/{tournament['id']}/start", headers=ada)
        assert response.status_code == 202
    worker.resume()
    wait_for(client, short["id"], "finished")
    played = client.get(f"{TOURNAMENTS}/{long['id']}").json()["matches"]["finished"]
    assert played < 24  # the short one did not wait for it
    wait_for(client, long["id"], "finished")


def test_a_paced_tournament_spaces_its_matches(client: TestClient) -> None:
    ada = account(client, "ada")
    paced = create(client, ada, rounds=3, pace_s=0.3)  # 6 matches
    assert client.post(f"{TOURNAMENTS}/{paced['id']}/start", headers=ada).status_code == 202
    wait_for(client, paced["id"], "finished")
    gaps = [
        (b - a).total_seconds()
        for a, b in itertools.pairwise(_starts(factory(client), paced["id"]))
    ]
    assert len(gaps) == 5 and min(gaps) >= 0.3, gaps


def test_create_takes_a_pace_and_long_ladders_only(client: TestClient) -> None:
    ada = account(client, "ada")
    ladder = create(client, ada, format="ladder", rounds=5000, pace_s=1.5)
    assert (ladder["rounds"], ladder["pace_s"]) == (5000, 1.5)
    too_long = client.post(TOURNAMENTS, json={**BODY, "rounds": 500}, headers=ada)
    assert too_long.status_code == 422
    assert "over 100 for round_robin" in too_long.text
    negative = client.post(TOURNAMENTS, json={**BODY, "pace_s": -1}, headers=ada)
    assert negative.status_code == 422


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"difficulty": 9}, ["options.difficulty=9", "an int in 1-5"]),
        ({"dificulty": 2}, ["options.dificulty", "did you mean `difficulty`?"]),
        ({"note": "x" * 17_000}, ["at most 16,384 are accepted"]),
    ],
    ids=["out-of-range", "misspelt", "too-large"],
)
def test_tournament_options_are_checked_against_the_scenario_when_created(
    client: TestClient, options: dict[str, Any], expected: list[str]
) -> None:
    ada = account(client, "ada")
    agents = ["builtin:random", "builtin:connect-four-heuristic"]
    body = {**BODY, "scenario": "connect_four", "agents": agents}
    refused = client.post(TOURNAMENTS, json={**body, "options": options}, headers=ada)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_argument"
    for text in expected:
        assert text in error["message"]
    assert client.get(TOURNAMENTS).json()["total"] == 0
    accepted = client.post(TOURNAMENTS, json={**body, "options": {"difficulty": 2}}, headers=ada)
    assert accepted.status_code == 201 and accepted.json()["options"] == {"difficulty": 2}


def test_progress_is_out_of_the_matches_planned_not_those_written(client: TestClient) -> None:
    ada = account(client, "ada")
    ladder = create(client, ada, format="ladder", rounds=2000)
    assert ladder["matches"]["planned"] == 2000 and ladder["matches"]["total"] == 0
    tid = ladder["id"]
    assert client.post(f"{TOURNAMENTS}/{tid}/start", headers=ada).status_code == 202
    deadline = time.monotonic() + 60
    while (shown := client.get(f"{TOURNAMENTS}/{tid}").json())["matches"]["finished"] < 2:
        assert time.monotonic() < deadline, shown
        time.sleep(0.05)
    assert client.post(f"{TOURNAMENTS}/{tid}/cancel", headers=ada).status_code == 200
    counts = client.get(f"{TOURNAMENTS}/{tid}").json()["matches"]
    assert counts["planned"] == 2000
    assert counts["total"] < 100  # written a batch at a time: not a measure of progress
    listed = client.get(TOURNAMENTS).json()["items"]
    assert [t["matches"]["planned"] for t in listed] == [2000]

    robin = create(client, ada)  # 2 agents, 2 legs: 4 matches, all written up front
    assert robin["matches"]["planned"] == 4
    assert client.post(f"{TOURNAMENTS}/{robin['id']}/start", headers=ada).status_code == 202
    done = wait_for(client, robin["id"], "finished")["matches"]
    assert done["planned"] == done["total"] == done["finished"] == 4


def test_listing_by_an_unknown_status_is_422_naming_the_allowed_ones(client: TestClient) -> None:
    # It was a 200 with no items, as if no tournament had that status.
    response = client.get("/api/v1/tournaments", params={"status": "bogus"})
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "query.status" in message and "'bogus'" in message
    assert "created|running|finished|cancelled|failed" in message
    assert client.get("/api/v1/tournaments", params={"status": "cancelled"}).status_code == 200


def test_a_tournament_whose_match_raises_shows_failed_with_the_reason(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: TicTacToe, options: dict[str, Any]) -> None:
        raise RuntimeError("the board caught fire at reset")

    monkeypatch.setattr(TicTacToe, "_new_episode", explode)  # trusted: played in this process
    ada = account(client, "ada")
    tid = create(client, ada)["id"]
    assert client.post(f"{TOURNAMENTS}/{tid}/start", headers=ada).status_code == 202
    failed = wait_for(client, tid, "failed")
    reason = "RuntimeError: the board caught fire at reset"
    assert failed["error"].endswith(f"failed: {reason}")
    assert failed["matches"]["failed"] == 1
    assert failed["matches"]["running"] == failed["matches"]["queued"] == 0
    matches = client.get(f"{TOURNAMENTS}/{tid}/matches").json()["items"]
    assert [(m["status"], m["error"]) for m in matches] == [("failed", reason)]
    assert failed["error"].startswith(f"match {matches[0]['id']} (")
    assert client.get(f"{TOURNAMENTS}/{tid}/standings").status_code == 409
    cancelled = client.post(f"{TOURNAMENTS}/{tid}/cancel", headers=ada)
    assert cancelled.status_code == 409 and "already failed" in cancelled.text
