"""First-start seeding: one admin, the scenarios, a running ladder, samples; idempotent."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.agents import builtin_names
from devspark.arena.executors import LocalExecutor
from devspark.arena.replay import Replay
from devspark.scenarios import list_scenarios
from devspark.services.accounts import Role, authenticate, register
from devspark.services.playing import Playback, run_match_durably
from devspark.services.seed import (
    ADMIN_USERNAME,
    LADDER_MATCHES,
    LADDER_PACE_S,
    SAMPLE_AGENTS,
    seed_if_empty,
)
from devspark.services.tournaments import TournamentParams
from devspark.store.artifacts import ArtifactStore
from devspark.store.db import session_factory
from devspark.store.models import MatchRow, ScenarioRow, TournamentRow, UserRow

CHEAP = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
DEVSPARK = Path(sys.executable).parent / "devspark"
LADDER = (
    "builtin:connect-four-alphabeta",
    "builtin:connect-four-heuristic",
    "builtin:connect-four-heuristic-js",
    "builtin:random",
)


def _count(
    session: Session,
    model: type[UserRow] | type[ScenarioRow] | type[TournamentRow] | type[MatchRow],
) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_first_seed_creates_admin_scenarios_and_a_running_ladder(session: Session) -> None:
    report = seed_if_empty(session, hasher=CHEAP)
    assert report is not None
    users = list(session.scalars(select(UserRow)))
    assert [(u.username, u.role) for u in users] == [(ADMIN_USERNAME, Role.ADMIN.value)]
    assert report.username == ADMIN_USERNAME and report.admin_id == users[0].id
    assert len(report.password) >= 24
    assert report.password not in (users[0].password_hash or "")
    assert (
        authenticate(session, ADMIN_USERNAME, report.password, hasher=CHEAP).id == report.admin_id
    )

    expected = {info.full_id for info in list_scenarios()}
    assert set(session.scalars(select(ScenarioRow.id))) == expected
    assert set(report.scenarios) == expected

    (ladder,) = session.scalars(select(TournamentRow))
    assert ladder.id == report.tournament_id
    assert (ladder.format, ladder.status, ladder.owner_id) == ("ladder", "running", users[0].id)
    assert ladder.scenario_id.startswith("connect_four-v")
    assert ladder.started_at is not None
    params = TournamentParams.from_json(ladder.params)
    assert params.agents == LADDER == report.agents
    assert params.rounds == LADDER_MATCHES
    assert params.pace_s == LADDER_PACE_S > 0  # it plays on in the background


def test_first_seed_queues_one_sample_match_per_scenario(session: Session) -> None:
    report = seed_if_empty(session, hasher=CHEAP)
    assert report is not None
    rows = list(session.scalars(select(MatchRow).where(MatchRow.tournament_id.is_(None))))
    assert sorted(r.id for r in rows) == sorted(report.samples)
    latest = {info.id: info.full_id for info in list_scenarios()}
    assert sorted(r.scenario_id for r in rows) == sorted(latest.values())
    assert set(SAMPLE_AGENTS) == set(latest)  # every built-in scenario has chosen baselines
    shipped = {f"builtin:{name}" for name in builtin_names()}
    for row in rows:
        assert row.status == "queued" and row.owner_id == report.admin_id, row
        agents = row.options["pairing"]["agents"]
        assert agents == [f"builtin:{n}" for n in SAMPLE_AGENTS[row.scenario_id.split("-v")[0]]]
        assert set(agents) <= shipped
        # Distinct entrants: the platform's boards rate an outcome only between distinct agents.
        assert len(set(agents)) == len(agents), agents


def test_seeded_samples_play_quickly_and_store_a_replay(session: Session, tmp_path: Path) -> None:
    """What the server's runner does with the samples on first start: each one finishes
    with a replay that rebuilds to its final state, all of them in a few seconds."""
    report = seed_if_empty(session, hasher=CHEAP)
    assert report is not None and len(report.samples) == len(SAMPLE_AGENTS)
    artifacts = ArtifactStore(tmp_path / "artifacts")
    factory: sessionmaker[Session] = session_factory(session.get_bind())  # type: ignore[arg-type]
    started = time.monotonic()
    with LocalExecutor(1) as executor:
        for match_id in report.samples:
            played = run_match_durably(factory, match_id, executor, Playback(replays=artifacts))
            assert played.result is not None, played
    elapsed = time.monotonic() - started
    session.expire_all()
    for match_id in report.samples:
        row = session.get(MatchRow, match_id)
        assert row is not None and row.status == "finished" and row.replay_ref, row
        replay = Replay(json.loads(gzip.decompress(artifacts.read_bytes(row.replay_ref))))
        assert len(replay.steps) == row.steps > 0
        assert list(replay.states())[-1] is not None
    print(f"\n{len(report.samples)} sample matches played in {elapsed:.1f} s")
    assert elapsed < 60, elapsed  # a first start is not held up for long


def test_second_seed_is_a_no_op(session: Session) -> None:
    first = seed_if_empty(session, hasher=CHEAP)
    assert first is not None
    before = [_count(session, m) for m in (UserRow, ScenarioRow, TournamentRow, MatchRow)]
    hash_before = session.scalar(select(UserRow.password_hash))
    assert seed_if_empty(session, hasher=CHEAP) is None
    assert [_count(session, m) for m in (UserRow, ScenarioRow, TournamentRow, MatchRow)] == before
    assert session.scalar(select(UserRow.password_hash)) == hash_before


def test_a_database_with_a_user_is_not_seeded(session: Session) -> None:
    register(session, "ada", "correct horse battery", hasher=CHEAP)
    session.commit()
    assert seed_if_empty(session, hasher=CHEAP) is None
    assert [u.username for u in session.scalars(select(UserRow))] == ["ada"]
    assert _count(session, ScenarioRow) == 0
    assert _count(session, TournamentRow) == 0


def test_existing_scenarios_are_kept(session: Session) -> None:
    session.add(ScenarioRow(id="tictactoe-v1", name="tictactoe", version=1))
    session.commit()
    report = seed_if_empty(session, hasher=CHEAP)
    assert report is not None and report.scenarios == ()
    # create_tournament registers the ladder's scenario itself.
    ids = set(session.scalars(select(ScenarioRow.id)))
    assert "tictactoe-v1" in ids and any(i.startswith("connect_four-v") for i in ids)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve_until_url(data_dir: Path) -> list[str]:
    """Start ``devspark serve``, read stdout until the URL line, stop it; return the lines."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DEVSPARK_DATABASE_URL"}
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [str(DEVSPARK), "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines: list[str] = []
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if url in line:
                break
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    assert any(url in line for line in lines), "".join(lines)
    return lines


@pytest.mark.integration
def test_serve_prints_the_admin_login_on_first_start_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = "".join(_serve_until_url(data_dir))
    assert "Admin login" in first and f"username '{ADMIN_USERNAME}'" in first
    assert "password '" in first
    second = "".join(_serve_until_url(data_dir))
    assert "Admin login" not in second and "password" not in second
