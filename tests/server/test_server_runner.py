"""The background runner: work that fails while playing ends ``failed`` with its reason.

Each test forces a failure inside play (a scenario that raises at reset, or options
stored before they were checked), then asserts the stored status, the ``error`` the API
shows, and that nothing stays ``running``, also after a restart of the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from server_helpers import login, wait
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devspark.sandbox import IsolationLevel
from devspark.scenarios.tictactoe import TicTacToe
from devspark.server.app import create_app
from devspark.server.runner import TournamentRunner
from devspark.server.settings import Settings
from devspark.services.durable import create_match, create_tournament
from devspark.store.models import MatchRow, TournamentRow, UserRow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
TOURNAMENTS = "/api/v1/tournaments"
MATCHES = "/api/v1/matches"
AGENTS = ["builtin:minimax", "builtin:random"]
BOOM = "the board caught fire at reset"


@pytest.fixture
def settings(tmp_path: Path, server_environ: dict[str, str]) -> Settings:
    return Settings.from_env(data_dir=tmp_path / "data", environ=server_environ)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, hasher=CHEAP)) as test_client:
        yield test_client


@pytest.fixture
def exploding_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tic-tac-toe raises at reset (the runner plays in its own process: one worker)."""

    def explode(self: TicTacToe, options: dict[str, Any]) -> None:
        raise RuntimeError(BOOM)

    monkeypatch.setattr(TicTacToe, "_new_episode", explode)


def made(client: TestClient) -> sessionmaker[Session]:
    found: sessionmaker[Session] = client.app.state.session_factory  # type: ignore[attr-defined]
    return found


def running(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return (
            session.scalar(
                select(func.count()).select_from(MatchRow).where(MatchRow.status == "running")
            )
            or 0
        )


def test_a_tournament_whose_match_raises_ends_failed_and_stays_so_after_cancel_and_restart(
    client: TestClient, settings: Settings, exploding_reset: None
) -> None:
    ada = login(client, "ada")
    body = {"scenario": "tictactoe", "format": "round_robin", "agents": AGENTS}
    created = client.post(TOURNAMENTS, json={**body, "isolation": "trusted"}, headers=ada)
    assert created.status_code == 201, created.text
    tid = created.json()["id"]
    assert created.json()["error"] is None
    assert client.post(f"{TOURNAMENTS}/{tid}/start", headers=ada).status_code == 202

    failed = wait(client, f"{TOURNAMENTS}/{tid}", "failed")
    assert failed["error"].endswith(f"failed: RuntimeError: {BOOM}")
    assert failed["matches"]["failed"] == 1
    assert failed["matches"]["running"] == failed["matches"]["queued"] == 0
    matches = client.get(f"{TOURNAMENTS}/{tid}/matches").json()["items"]
    assert [(m["status"], m["error"]) for m in matches] == [("failed", f"RuntimeError: {BOOM}")]
    assert failed["error"].startswith(f"match {matches[0]['id']} (")
    assert matches[0]["results"] == [] and matches[0]["finished_at"] is not None
    assert client.get(f"{TOURNAMENTS}/{tid}/standings").status_code == 409

    cancelled = client.post(f"{TOURNAMENTS}/{tid}/cancel", headers=ada)
    assert cancelled.status_code == 409 and "already failed" in cancelled.text
    assert running(made(client)) == 0

    client.app.state.runner.stop()  # type: ignore[attr-defined]
    with TestClient(create_app(settings, hasher=CHEAP)) as again:  # a restart
        assert again.app.state.runner.running  # type: ignore[attr-defined]
        after = again.get(f"{TOURNAMENTS}/{tid}").json()
        assert (after["status"], after["error"]) == ("failed", failed["error"])
        assert running(made(again)) == 0


def test_a_match_whose_play_raises_ends_failed_with_the_reason_and_is_not_replayed(
    client: TestClient, settings: Settings, exploding_reset: None
) -> None:
    ada = login(client, "ada")
    body = {"scenario": "tictactoe", "agents": AGENTS, "isolation": "trusted"}
    created = client.post(MATCHES, json=body, headers=ada)
    assert created.status_code == 201, created.text
    url = f"{MATCHES}/{created.json()['id']}"
    failed = wait(client, url, "failed")
    assert failed["error"] == f"RuntimeError: {BOOM}"
    assert failed["results"] == [] and failed["replay_ref"] is None
    listed = client.get(MATCHES, params={"status": "failed"}).json()["items"]
    assert [m["error"] for m in listed] == [f"RuntimeError: {BOOM}"]

    client.app.state.runner.stop()  # type: ignore[attr-defined]
    with TestClient(create_app(settings, hasher=CHEAP)) as again:
        after = again.get(url).json()
        assert (after["status"], after["error"]) == ("failed", failed["error"])
        assert after["started_at"] == failed["started_at"]  # not played again
        assert running(made(again)) == 0


def test_work_stored_with_options_the_scenario_refuses_fails_with_the_option_named(
    client: TestClient,
) -> None:
    client.app.state.runner.stop()  # type: ignore[attr-defined]  # a runner of our own
    factory = made(client)
    with factory() as session:  # as stored before options were checked when created
        owner = UserRow(username="owner", role="user")
        session.add(owner)
        session.commit()
        tournament = create_tournament(
            session,
            owner_id=owner.id,
            scenario="tictactoe",
            format="round_robin",
            agents=AGENTS,
            params={"isolation": "trusted"},
        )
        tournament.params = {**tournament.params, "options": {"difficulty": 9}}
        tournament.status = "running"
        match = create_match(
            session,
            owner_id=owner.id,
            scenario="tictactoe",
            agents=AGENTS,
            isolation=IsolationLevel.TRUSTED,
        )
        match.options = {**match.options, "reset": {"dificulty": 2}}
        session.commit()
        tid, mid = tournament.id, match.id
    runner = TournamentRunner(factory, workers=1)
    assert runner.start() == [tid]
    try:
        wait(client, f"{TOURNAMENTS}/{tid}", "failed")
        wait(client, f"{MATCHES}/{mid}", "failed")
    finally:
        runner.stop()
    shown = client.get(f"{TOURNAMENTS}/{tid}").json()
    assert "options.difficulty=9 is not allowed by tictactoe-v1" in shown["error"]
    match_error = client.get(f"{MATCHES}/{mid}").json()["error"]
    assert "options.dificulty is not an option of tictactoe-v1" in match_error
    assert "did you mean `difficulty`?" in match_error
    assert running(factory) == 0


def test_a_restart_ends_matches_left_running_in_a_cancelled_tournament(
    client: TestClient, settings: Settings
) -> None:
    ada = login(client, "ada")
    body = {"scenario": "tictactoe", "format": "round_robin", "agents": AGENTS}
    created = client.post(TOURNAMENTS, json={**body, "isolation": "trusted"}, headers=ada)
    tid = uuid.UUID(created.json()["id"])
    client.app.state.runner.stop()  # type: ignore[attr-defined]
    factory = made(client)
    with factory() as session:  # what an older server left behind: cancelled, one running
        tournament = session.get(TournamentRow, tid)
        assert tournament is not None
        tournament.status = "cancelled"
        session.add(
            MatchRow(
                scenario_id="tictactoe-v1",
                options={"reset": {}, "pairing": {"round": 0, "label": "R1", "agents": AGENTS}},
                status="running",
                tournament_id=tid,
            )
        )
        session.commit()
    assert running(factory) == 1
    with TestClient(create_app(settings, hasher=CHEAP)) as again:
        matches = again.get(f"{TOURNAMENTS}/{tid}/matches").json()["items"]
        assert [m["status"] for m in matches] == ["failed"]
        assert matches[0]["error"].startswith("abandoned: its tournament ended")
        assert running(made(again)) == 0


def test_a_tournament_whose_format_cannot_be_rebuilt_ends_failed(client: TestClient) -> None:
    client.app.state.runner.stop()  # type: ignore[attr-defined]  # a runner of our own
    factory = made(client)
    with factory() as session:
        owner = UserRow(username="owner", role="user")
        session.add(owner)
        session.commit()
        tournament = create_tournament(
            session,
            owner_id=owner.id,
            scenario="tictactoe",
            format="round_robin",
            agents=AGENTS,
            params={"isolation": "trusted"},
        )
        tournament.format = "knockout"  # a format this server no longer knows
        tournament.status = "running"
        session.commit()
        tid = tournament.id
    runner = TournamentRunner(factory, workers=1)
    assert runner.start() == [tid]
    try:
        shown = wait(client, f"{TOURNAMENTS}/{tid}", "failed")
    finally:
        runner.stop()
    assert shown["error"].startswith("invalid_argument: ")
    assert "knockout" in shown["error"]
    assert shown["matches"]["total"] == 0 and running(factory) == 0
