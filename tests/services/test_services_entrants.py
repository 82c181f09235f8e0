"""Uploaded agents in matches and tournaments: references, staging, replays, both databases."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.agents import BUILTIN_DIR
from devspark.arena.executors import LocalExecutor
from devspark.arena.replay import Replay
from devspark.core.errors import (
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from devspark.sandbox import IsolationLevel
from devspark.services.durable import run_tournament_durably
from devspark.services.entrants import (
    AgentStager,
    check_entrants,
    find_version,
    parse_registry_ref,
    version_ids,
)
from devspark.services.matches import create_match
from devspark.services.playing import Playback, run_match_durably
from devspark.services.registry import AgentRegistry
from devspark.services.tournaments import TournamentParams, create_tournament
from devspark.store.artifacts import ArtifactStore
from devspark.store.db import session_factory
from devspark.store.models import (
    AgentRow,
    AgentVersionRow,
    MatchResultRow,
    MatchRow,
    UserRow,
    utcnow,
)
from devspark.testing.archives import pack_agent


def random_agent_archive() -> bytes:
    """The built-in random agent, renamed ``randy``, as an uploaded .tar.gz."""
    return pack_agent(BUILTIN_DIR / "random", name="randy")


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def playback(artifacts: ArtifactStore, tmp_path: Path) -> Playback:
    return Playback(stager=AgentStager(artifacts, tmp_path / "staged"), replays=artifacts)


@pytest.fixture
def ada(session: Session) -> UserRow:
    user = UserRow(username="ada", role="user")
    session.add(user)
    session.commit()
    return user


def publish(
    session: Session, artifacts: ArtifactStore, owner: UserRow, tmp_path: Path, *, start: bool
) -> AgentVersionRow:
    registry = AgentRegistry(session, artifacts, tmp_path / "work")
    version = registry.publish(owner, random_agent_archive(), "randy.tar.gz")
    if start:
        registry.start(owner, version.id)
    return version


def test_parse_registry_ref() -> None:
    ref = parse_registry_ref("agent:ada/randy@1.2.0-rc.1")
    assert (ref.user, ref.name, ref.version) == ("ada", "randy", "1.2.0-rc.1")
    assert str(parse_registry_ref("agent:ada/randy")) == "agent:ada/randy"
    for bad in ("agent:ada", "agent:/x", "agent:ada/randy@", "agent:a b/c", "builtin:random"):
        with pytest.raises(InvalidArgumentError, match="expected agent:USER/NAME"):
            parse_registry_ref(bad)


def test_check_entrants_pins_started_versions_and_refuses_the_rest(
    session: Session, artifacts: ArtifactStore, ada: UserRow, tmp_path: Path
) -> None:
    version = publish(session, artifacts, ada, tmp_path, start=False)
    sandbox = IsolationLevel.SANDBOX
    with pytest.raises(FailedPreconditionError, match="no started version"):
        check_entrants(session, ["agent:ada/randy"], sandbox)
    with pytest.raises(FailedPreconditionError, match="'registered': start it"):
        check_entrants(session, ["agent:ada/randy@1.0.0"], sandbox)
    AgentRegistry(session, artifacts, tmp_path / "work").start(ada, version.id)
    assert check_entrants(session, ["builtin:random", "agent:ada/randy"], sandbox) == [
        "builtin:random",
        "agent:ada/randy@1.0.0",
    ]
    for level in (IsolationLevel.TRUSTED, IsolationLevel.PROCESS):  # the server's own uid
        with pytest.raises(InvalidArgumentError, match=f"cannot run with isolation '{level}'"):
            check_entrants(session, ["agent:ada/randy"], level)
    assert check_entrants(session, ["agent:ada/randy"], IsolationLevel.GVISOR)
    with pytest.raises(InvalidArgumentError, match="does not declare scenario 'maze-v1'"):
        check_entrants(session, ["builtin:minimax"], sandbox, "maze-v1")
    with pytest.raises(InvalidArgumentError, match=r"no version '9\.9\.9'"):
        check_entrants(session, ["agent:ada/randy@9.9.9"], sandbox)
    with pytest.raises(InvalidArgumentError, match="has no agent 'nobody'"):
        check_entrants(session, ["agent:ada/nobody"], sandbox)
    with pytest.raises(InvalidArgumentError, match="no such built-in"):
        check_entrants(session, ["builtin:nope"], sandbox)
    with pytest.raises(InvalidArgumentError, match="expected builtin:NAME"):
        check_entrants(session, ["/etc"], sandbox)
    AgentRegistry(session, artifacts, tmp_path / "work").deprecate(ada, version.id)
    with pytest.raises(FailedPreconditionError, match="no started version"):
        check_entrants(session, ["agent:ada/randy"], sandbox)


def test_stager_unpacks_once_and_checks_the_hash(
    session: Session, artifacts: ArtifactStore, ada: UserRow, tmp_path: Path
) -> None:
    version = publish(session, artifacts, ada, tmp_path, start=True)
    stager = AgentStager(artifacts, tmp_path / "staged")
    folder = stager.folder(version)
    assert folder == tmp_path / "staged" / version.sha256
    assert (folder / "agent.toml").is_file()
    assert stager.folder(version) == folder  # already there: not unpacked again
    missing = AgentVersionRow(
        version="2.0.0", sha256="0" * 64, artifact_ref="package:sha256:" + "1" * 64
    )
    with pytest.raises(NotFoundError, match="is missing"):
        stager.folder(missing)


def test_an_uploaded_agent_plays_a_match_with_a_stored_replay(
    migrated: object,
    session: Session,
    artifacts: ArtifactStore,
    playback: Playback,
    ada: UserRow,
    tmp_path: Path,
) -> None:
    version = publish(session, artifacts, ada, tmp_path, start=True)
    row = create_match(
        session,
        owner_id=ada.id,
        scenario="tictactoe",
        agents=["agent:ada/randy", "builtin:minimax"],
        seed=5,
    )
    assert row.status == "queued" and row.owner_id == ada.id
    assert row.options["pairing"]["agents"] == ["agent:ada/randy@1.0.0", "builtin:minimax"]
    factory: sessionmaker[Session] = session_factory(session.get_bind())  # type: ignore[arg-type]
    with LocalExecutor(1) as executor:
        first = run_match_durably(factory, row.id, executor, playback)
        again = run_match_durably(factory, row.id, executor, playback)  # finished: not again
    assert first.result is not None and first.error is None
    assert again.result is None and again.error is None
    session.expire_all()
    stored = session.get(MatchRow, row.id)
    assert stored is not None and stored.status == "finished" and stored.replay_ref
    results = list(session.scalars(select(MatchResultRow).where(MatchResultRow.match_id == row.id)))
    assert len(results) == 2
    seat0 = next(r for r in results if r.seat == 0)
    assert seat0.agent_ref == "agent:ada/randy@1.0.0" and seat0.agent_version_id == version.id
    session.refresh(version)
    assert version.matches_played == 1
    replay = Replay(json.loads(gzip.decompress(artifacts.read_bytes(stored.replay_ref))))
    assert replay.spec.agents == ("agent:ada/randy@1.0.0", "builtin:minimax")
    assert replay.data["agents"][0]["sha256"] == version.sha256
    assert len(replay.steps) == stored.steps
    assert replay.data["isolation"] == "sandbox"


def test_an_uploaded_agent_enters_a_tournament(
    session: Session, artifacts: ArtifactStore, playback: Playback, ada: UserRow, tmp_path: Path
) -> None:
    publish(session, artifacts, ada, tmp_path, start=True)
    row = create_tournament(
        session,
        owner_id=ada.id,
        scenario="tictactoe",
        format="round_robin",
        agents=["agent:ada/randy", "builtin:minimax"],
        params=TournamentParams(agents=(), rounds=1, bootstrap=20),
        seed=1,
    )
    assert row.params["agents"] == ["agent:ada/randy@1.0.0", "builtin:minimax"]
    factory: sessionmaker[Session] = session_factory(session.get_bind())  # type: ignore[arg-type]
    with LocalExecutor(1) as executor:
        run_tournament_durably(factory, row.id, executor, playback)
    session.expire_all()
    matches = list(session.scalars(select(MatchRow).where(MatchRow.tournament_id == row.id)))
    assert matches and all(m.status == "finished" and m.replay_ref for m in matches)
    assert find_version(session, "agent:ada/randy@1.0.0").matches_played == len(matches)


def test_without_a_stager_an_uploaded_agent_cannot_play(
    session: Session, artifacts: ArtifactStore, ada: UserRow, tmp_path: Path
) -> None:
    publish(session, artifacts, ada, tmp_path, start=True)
    row = create_match(
        session, owner_id=ada.id, scenario="tictactoe", agents=["agent:ada/randy", "builtin:random"]
    )
    factory: sessionmaker[Session] = session_factory(session.get_bind())  # type: ignore[arg-type]
    with (
        LocalExecutor(1) as executor,
        pytest.raises(FailedPreconditionError, match="cannot stage them"),
    ):
        run_match_durably(factory, row.id, executor)
    session.expire_all()
    assert session.get(MatchRow, row.id).status == "queued"  # type: ignore[union-attr]


def test_create_match_checks_seats(session: Session, ada: UserRow) -> None:
    with pytest.raises(InvalidArgumentError, match="seats 2 agents, got 1"):
        create_match(session, owner_id=ada.id, scenario="tictactoe", agents=["builtin:random"])
    with pytest.raises(InvalidArgumentError, match=r"^scenario='tictacto': Unknown scenario"):
        create_match(session, owner_id=ada.id, scenario="tictacto", agents=["builtin:random"])


def test_a_version_entered_in_unfinished_work_cannot_be_deleted(
    session: Session, artifacts: ArtifactStore, ada: UserRow, tmp_path: Path
) -> None:
    version = publish(session, artifacts, ada, tmp_path, start=True)
    registry = AgentRegistry(session, artifacts, tmp_path / "work")
    row = create_match(
        session, owner_id=ada.id, scenario="tictactoe", agents=["agent:ada/randy", "builtin:random"]
    )
    registry.stop(ada, version.id)
    with pytest.raises(ConflictError, match=f"entered in match {row.id}"):
        registry.delete_version(ada, version.id)
    row.status = "finished"  # played (or given up): nothing waits for it any more
    session.commit()
    registry.delete_version(ada, version.id)


def test_a_match_that_cannot_be_played_ends_failed(session: Session, ada: UserRow) -> None:
    row = create_match(
        session, owner_id=ada.id, scenario="tictactoe", agents=["builtin:random", "builtin:minimax"]
    )
    row.options = {
        **row.options,
        "pairing": {**row.options["pairing"], "agents": ["builtin:gone", "builtin:minimax"]},
    }
    session.commit()  # as if the built-in was removed by an upgrade since it was queued
    factory: sessionmaker[Session] = session_factory(session.get_bind())  # type: ignore[arg-type]
    with LocalExecutor(1) as executor:
        played = run_match_durably(factory, row.id, executor)
    assert played.result is None and not played.lost
    assert played.error is not None and played.error.startswith("not_found: ")
    session.expire_all()
    failed = session.get(MatchRow, row.id)
    assert failed is not None and failed.status == "failed" and failed.finished_at is not None
    assert failed.error is not None and failed.error.startswith("not_found: ")
    assert "builtin:gone" in failed.error


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("builtin:rnadom", "agents[1]='builtin:rnadom': no such built-in agent: did you mean "),
        ("rnadom", "agents[1]='rnadom': expected builtin:NAME or agent:USER/NAME[@VERSION]: "),
        ("agent:ada/randdy", "user 'ada' has no agent 'randdy': did you mean `agent:ada/randy`?"),
        (
            "agent:adaa/randy@1.0.0",
            "no user 'adaa' has an agent 'randy': did you mean `agent:ada/randy@1.0.0`?",
        ),
        ("agent:adaa/zzz", "no user 'adaa' has agents: did you mean user `ada`?"),
        (
            "agent:ada/randy@1.0.1",
            "agent:ada/randy has no version '1.0.1': did you mean `agent:ada/randy@1.0.0`?",
        ),
        ("agent:nobody/zzz", "no user 'nobody' has an agent 'zzz'"),
    ],
)
def test_a_reference_that_names_nothing_is_refused_with_the_near_ones(
    session: Session,
    artifacts: ArtifactStore,
    ada: UserRow,
    tmp_path: Path,
    ref: str,
    message: str,
) -> None:
    publish(session, artifacts, ada, tmp_path, start=True)
    with pytest.raises(InvalidArgumentError) as caught:
        check_entrants(session, ["builtin:random", ref], IsolationLevel.SANDBOX)
    assert message in str(caught.value)
    if ref.endswith("rnadom"):
        assert "`builtin:random`" in str(caught.value)


def test_suggestions_never_name_a_deleted_agent(
    session: Session, artifacts: ArtifactStore, ada: UserRow, tmp_path: Path
) -> None:
    version = publish(session, artifacts, ada, tmp_path, start=True)
    agent = session.get(AgentRow, version.agent_id)
    assert agent is not None
    agent.deleted_at = utcnow()
    session.commit()
    with pytest.raises(InvalidArgumentError) as caught:
        check_entrants(session, ["agent:ada/randdy"], IsolationLevel.SANDBOX)
    assert "did you mean" not in str(caught.value)
    assert "no user 'ada' has an agent 'randdy'" in str(caught.value)


def test_version_ids_finds_pinned_and_unpinned_references_and_skips_the_rest(
    session: Session, artifacts: ArtifactStore, ada: UserRow, tmp_path: Path
) -> None:
    version = publish(session, artifacts, ada, tmp_path, start=True)
    found = version_ids(
        session,
        [
            "agent:ada/randy@1.0.0",
            "agent:ada/randy",
            "builtin:random",
            "agent:ada/randy@9.9.9",
            "agent:ada/nobody@1.0.0",
            "agent:ada/randy@1.0.0",  # twice: asked once
        ],
    )
    assert found == {"agent:ada/randy@1.0.0": version.id, "agent:ada/randy": version.id}
