"""Matches, replays, uploaded agents and platform leaderboards on the wire."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from server_helpers import login, wait
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.app import create_app
from devspark.arena.agents import BUILTIN_DIR
from devspark.arena.replay import Replay
from devspark.server.settings import Settings
from devspark.services.matches import create_match
from devspark.store.models import AuditLogRow, UserRow
from devspark.testing.archives import pack_agent
from devspark.worker.engine import Worker

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
MATCHES = "/api/v1/matches"
MATCH: dict[str, Any] = {
    "scenario": "tictactoe",
    "agents": ["builtin:minimax", "builtin:random"],
    "seed": 4,
    "isolation": "trusted",
}


@pytest.fixture
def client(tmp_path: Path, server_environ: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)
    with TestClient(create_app(settings, hasher=CHEAP)) as test_client:
        yield test_client


def test_a_match_runs_in_the_background_and_serves_its_replay(client: TestClient) -> None:
    ada = login(client, "ada")
    created = client.post(MATCHES, json=MATCH, headers={**ada, "X-Request-ID": "match-1"})
    assert created.status_code == 201, created.text
    match = created.json()
    assert match["status"] in ("queued", "running", "finished")
    assert match["agents"] == MATCH["agents"] and match["tournament_id"] is None
    done = wait(client, f"{MATCHES}/{match['id']}", "finished")
    assert [r["agent"] for r in done["results"]] == MATCH["agents"]
    assert done["replay_ref"].startswith("replay:sha256:")

    plain = client.get(f"{MATCHES}/{match['id']}/replay", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    replay = plain.json()
    assert replay["format"] == "devspark-replay"
    assert [a["ref"] for a in replay["agents"]] == MATCH["agents"]
    assert len(replay["steps"]) == done["steps"] and replay["seed"] == 4
    assert "immutable" in plain.headers["cache-control"]
    # httpx asks for gzip and decodes it: the stored bytes are served as they are.
    zipped = client.get(f"{MATCHES}/{match['id']}/replay")
    assert zipped.headers["content-encoding"] == "gzip" and zipped.json() == replay

    listed = client.get(MATCHES, params={"agent": "builtin:random", "status": "finished"}).json()
    assert [m["id"] for m in listed["items"]] == [match["id"]] and listed["total"] == 1
    assert client.get(MATCHES, params={"agent": "builtin:nobody"}).json()["total"] == 0
    assert client.get(MATCHES, params={"scenario": "tictactoe"}).json()["total"] == 1
    assert client.get(MATCHES, params={"scenario": "maze"}).json()["total"] == 0
    assert client.get(MATCHES, params={"scenario": "mazy"}).status_code == 404
    with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        entry = session.scalars(
            select(AuditLogRow).where(AuditLogRow.action == "match.create")
        ).one()
        assert entry.target_id == match["id"] and entry.correlation_id == "match-1"


def test_bad_matches_get_clear_errors(client: TestClient) -> None:
    ada = login(client, "ada")
    one_seat = client.post(MATCHES, json={**MATCH, "agents": ["builtin:random"]}, headers=ada)
    assert one_seat.status_code == 422
    assert "seats 2 agents, got 1" in one_seat.json()["error"]["message"]
    unknown = client.post(
        MATCHES, json={**MATCH, "agents": ["builtin:x", "builtin:y"]}, headers=ada
    )
    assert unknown.status_code == 422 and "builtin:x" in unknown.json()["error"]["message"]
    folder = client.post(MATCHES, json={**MATCH, "agents": ["/etc", "builtin:random"]}, headers=ada)
    assert folder.status_code == 422
    wrong_game = client.post(
        MATCHES,
        json={**MATCH, "scenario": "connect_four", "agents": ["builtin:minimax"] * 2},
        headers=ada,
    )
    assert wrong_game.status_code == 422  # refused up front, not left queued forever
    assert "does not declare scenario 'connect_four-v1'" in wrong_game.text
    missing = client.get(f"{MATCHES}/{uuid.uuid4()}/replay")
    assert missing.status_code == 404


def test_an_uploaded_agent_plays_a_tournament_and_reaches_the_boards(client: TestClient) -> None:
    ada = login(client, "ada")
    files = {
        "file": (
            "randy.tar.gz",
            pack_agent(BUILTIN_DIR / "random", name="randy"),
            "application/gzip",
        )
    }
    published = client.post("/api/v1/agents", files=files, headers=ada).json()
    body = {
        "scenario": "tictactoe",
        "format": "round_robin",
        "agents": ["agent:ada/randy", "builtin:minimax"],
        "rounds": 2,
        "seed": 1,
    }
    not_started = client.post("/api/v1/tournaments", json=body, headers=ada)
    assert not_started.status_code == 409, not_started.text
    assert "start one" in not_started.json()["error"]["message"]
    client.post(f"/api/v1/agents/{published['agent_id']}/start", headers=ada)
    trusted = client.post("/api/v1/tournaments", json={**body, "isolation": "trusted"}, headers=ada)
    assert trusted.status_code == 422
    assert "cannot run with isolation 'trusted'" in trusted.json()["error"]["message"]
    process = client.post("/api/v1/tournaments", json={**body, "isolation": "process"}, headers=ada)
    assert process.status_code == 422  # process isolation runs as the server's own user

    created = client.post("/api/v1/tournaments", json=body, headers=ada)
    assert created.status_code == 201, created.text
    tournament = created.json()
    assert tournament["agents"] == ["agent:ada/randy@1.0.0", "builtin:minimax"]
    client.post(f"/api/v1/tournaments/{tournament['id']}/start", headers=ada)
    wait(client, f"/api/v1/tournaments/{tournament['id']}", "finished")

    matches = client.get(MATCHES, params={"tournament_id": tournament["id"]}).json()
    played = matches["total"]
    assert played == 4  # two legs, each pairing once per seat order
    first = matches["items"][0]
    replay = client.get(f"{MATCHES}/{first['id']}/replay").json()
    randy = next(a for a in replay["agents"] if a["ref"] == "agent:ada/randy@1.0.0")
    assert randy["sha256"] == published["sha256"] and replay["isolation"] == "sandbox"

    # The boards are refitted in the background: wait for the keeper to rate them all.
    assert client.app.state.boards.wait_for(played, timeout_s=60)  # type: ignore[attr-defined]
    boards = client.get("/api/v1/leaderboards/boards").json()
    assert boards["matches"] == played and boards["built_at"] is not None
    line = next(r for r in boards["global"] if r["agent"] == "agent:ada/randy@1.0.0")
    assert line["lower"] <= line["rating"] <= line["upper"] and line["matches"] == played
    assert set(boards["by_scenario"]) == {"tictactoe-v1"}
    assert "game" in boards["by_domain"]
    assert "agent:ada/randy@1.0.0" in boards["history"]
    again = client.get("/api/v1/leaderboards/boards")
    assert again.json() == boards  # nothing new: the same boards
    assert again.headers["content-encoding"] == "gzip"  # httpx asks for it, and decodes
    unchanged = client.get(
        "/api/v1/leaderboards/boards", headers={"If-None-Match": again.headers["etag"]}
    )
    assert unchanged.status_code == 304 and unchanged.content == b""
    openskill = client.get("/api/v1/leaderboards/boards", params={"method": "openskill"})
    assert openskill.json()["method"] == "openskill"

    record = client.get(
        "/api/v1/leaderboards/head-to-head", params={"agent": "agent:ada/randy@1.0.0"}
    ).json()
    [line_vs] = record["opponents"]
    assert line_vs["opponent"] == "builtin:minimax"
    assert line_vs["wins"] + line_vs["draws"] + line_vs["losses"] == played
    assert line_vs["wins"] == 0  # random never beats minimax at tic-tac-toe

    agent = client.get(f"/api/v1/agents/{published['agent_id']}").json()
    assert (agent["owner"], agent["ref"]) == ("ada", "agent:ada/randy")
    version = client.get(
        f"/api/v1/agents/{published['agent_id']}/versions/{published['id']}"
    ).json()
    assert version["matches_played"] == played
    deleted = client.delete(
        f"/api/v1/agents/{published['agent_id']}/versions/{published['id']}", headers=ada
    )
    assert deleted.status_code in (409, 412), deleted.text  # it has played: never deleted


def test_boards_are_empty_before_any_match(client: TestClient) -> None:
    boards = client.get("/api/v1/leaderboards/boards").json()
    assert boards["global"] == [] and boards["matches"] == 0 and boards["built_at"] is None


def test_a_watched_match_streams_its_steps(client: TestClient) -> None:
    token = login(client, "ada")["Authorization"].removeprefix("Bearer ")
    made: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
    worker: Worker = client.app.state.worker  # type: ignore[attr-defined]
    worker.pause()  # the match waits until the client watches it
    with made() as session:
        owner = session.scalars(select(UserRow).where(UserRow.username == "ada")).one()
        match_id = create_match(
            session,
            owner_id=owner.id,
            scenario="tictactoe",
            agents=["builtin:minimax", "builtin:random"],
            seed=2,
        ).id
    with client.websocket_connect(f"/api/v1/ws?token={token}") as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "subscribe", "topic": f"match:{match_id}"})
        assert ws.receive_json()["type"] == "subscribed"
        worker.resume()
        events: list[dict[str, Any]] = []
        while not events or events[-1]["type"] != "match_finished":
            events.append(ws.receive_json())
    kinds = [e["type"] for e in events]
    assert kinds[0] == "match_started" and kinds[-1] == "match_finished"
    steps = [e for e in events if e["type"] == "step"]
    assert steps[0]["step"] == -1 and steps[0]["state"]  # the board after reset
    assert [s["step"] for s in steps[1:]] == list(range(events[-1]["steps"]))
    assert all(s["moves"][0]["status"] == "ok" for s in steps[1:])
    # The last step's state is the replay's final state (rebuilt from its deltas).
    replay = Replay(client.get(f"{MATCHES}/{match_id}/replay").json())
    final = list(replay.states())[-1]
    assert "state" not in replay.steps[-1]  # a delta: only states() has the full board
    assert steps[-1]["state"] == final
    assert final["result"] in ("win", "draw") and final["to_move"] is None
    assert json.dumps(steps[-1]["state"])  # plain JSON


def test_a_match_left_queued_is_played_after_a_restart(
    tmp_path: Path, server_environ: dict[str, str]
) -> None:
    settings = Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)
    app = create_app(settings, hasher=CHEAP)
    with TestClient(app) as client:
        login(client, "ada")
        with app.state.session_factory() as session:
            owner = session.scalars(select(UserRow).where(UserRow.username == "ada")).one()
            match_id = create_match(
                session, owner_id=owner.id, scenario="tictactoe", agents=MATCH["agents"]
            ).id  # persisted, never submitted: as if the server died before queueing it
    with TestClient(create_app(settings, hasher=CHEAP)) as again:
        done = wait(again, f"{MATCHES}/{match_id}", "finished")
        replay = Replay(again.get(f"{MATCHES}/{match_id}/replay").json())
    assert_tictactoe_results(done["results"], replay)


def _board_winner(board: list[int]) -> str | None:
    """The player with three in a row on a tic-tac-toe board (1 is player_0), or None."""
    lines = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8)]
    lines.append((2, 4, 6))
    for a, b, c in lines:
        if board[a] and board[a] == board[b] == board[c]:
            return f"player_{board[a] - 1}"
    return None


def assert_tictactoe_results(results: list[dict[str, Any]], replay: Replay) -> None:
    """Both seats played cleanly, rewards are zero-sum and name the board's winner."""
    assert [(r["seat"], r["agent"], r["role"]) for r in results] == [
        (0, MATCH["agents"][0], "player_0"),
        (1, MATCH["agents"][1], "player_1"),
    ]
    assert [r["status"] for r in results] == ["ok", "ok"]
    final = list(replay.states())[-1]
    board = final["board"]
    assert sum(r["moves"] for r in results) == sum(1 for cell in board if cell)
    rewards = {r["role"]: r["reward"] for r in results}
    assert sum(rewards.values()) == 0  # zero-sum: a win is +1/-1, a draw 0/0
    winner = _board_winner(board)
    assert final["winner"] == winner
    if winner is None:
        assert final["result"] == "draw" and set(rewards.values()) == {0}
    else:
        assert rewards[winner] == 1


def test_replay_bytes_are_gzip_in_storage(client: TestClient) -> None:
    ada = login(client, "ada")
    match = client.post(MATCHES, json=MATCH, headers=ada).json()
    done = wait(client, f"{MATCHES}/{match['id']}", "finished")
    stored = client.app.state.artifacts.read_bytes(done["replay_ref"])  # type: ignore[attr-defined]
    assert json.loads(gzip.decompress(stored))["format"] == "devspark-replay"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"difficulty": 9}, ["options.difficulty=9", "an int in 1-5"]),
        ({"dificulty": 2}, ["options.dificulty", "did you mean `difficulty`?"]),
        ({"note": "x" * 17_000}, ["at most 16,384 are accepted"]),
    ],
    ids=["out-of-range", "misspelt", "too-large"],
)
def test_match_options_are_checked_against_the_scenario_when_created(
    client: TestClient, options: dict[str, Any], expected: list[str]
) -> None:
    ada = login(client, "ada")
    body = {**MATCH, "scenario": "connect_four", "agents": ["builtin:random"] * 2}
    refused = client.post(MATCHES, json={**body, "options": options}, headers=ada)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_argument"
    for text in expected:
        assert text in error["message"]
    assert client.get(MATCHES).json()["total"] == 0  # nothing stored, nothing queued
    accepted = client.post(MATCHES, json={**body, "options": {"difficulty": 2}}, headers=ada)
    assert accepted.status_code == 201 and accepted.json()["options"] == {"difficulty": 2}


def test_entrants_that_name_nothing_get_422_with_the_near_names(client: TestClient) -> None:
    ada = login(client, "ada")
    packed = pack_agent(BUILTIN_DIR / "random", name="randy")
    files = {"file": ("randy.tar.gz", packed, "application/gzip")}
    assert client.post("/api/v1/agents", files=files, headers=ada).status_code == 201
    cases = {
        "builtin:rnadom": "agents[1]='builtin:rnadom': no such built-in agent: did you mean "
        "`builtin:random`",
        "agent:ada/randdy": "agents[1]='agent:ada/randdy': user 'ada' has no agent 'randdy': "
        "did you mean `agent:ada/randy`?",
        "agent:adda/randy": "no user 'adda' has an agent 'randy': did you mean `agent:ada/randy`?",
    }
    for ref, message in cases.items():
        body = {**MATCH, "agents": ["builtin:minimax", ref], "isolation": "sandbox"}
        refused = client.post(MATCHES, json=body, headers=ada)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_argument"
        assert message in refused.json()["error"]["message"]
        tournament = {"scenario": "tictactoe", "format": "round_robin", **body}
        del tournament["seed"]
        refused = client.post("/api/v1/tournaments", json=tournament, headers=ada)
        assert refused.status_code == 422 and message in refused.json()["error"]["message"]
    assert client.get(MATCHES).json()["total"] == 0
