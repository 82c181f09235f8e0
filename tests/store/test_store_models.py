"""ORM rows on a migrated database: constraints, JSON, datetimes, delete rules."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from devspark.store.models import (
    AgentLifecycleEventRow,
    AgentRow,
    AgentVersionRow,
    ApiKeyRow,
    AuditLogRow,
    Base,
    MatchResultRow,
    MatchRow,
    RatingSnapshotRow,
    RefreshTokenRow,
    ScenarioRow,
    TournamentRow,
    UserRow,
)


def _user(session: Session, name: str = "ada") -> UserRow:
    user = UserRow(username=name, email=f"{name}@example.org", role="user")
    session.add(user)
    session.commit()
    return user


def _agent(session: Session, owner: UserRow, name: str = "mcts") -> AgentRow:
    agent = AgentRow(owner_id=owner.id, name=name)
    session.add(agent)
    session.commit()
    return agent


def _version(session: Session, agent: AgentRow, version: str = "1.0.0") -> AgentVersionRow:
    row = AgentVersionRow(
        agent_id=agent.id,
        version=version,
        sha256="ab" * 32,
        manifest={"name": agent.name, "version": version},
        license="MIT",
        language="python",
        artifact_ref=f"agents/{'ab' * 32}.tar.gz",
    )
    session.add(row)
    session.commit()
    return row


def _scenario(session: Session) -> ScenarioRow:
    scenario = ScenarioRow(id="connect_four-v1", name="connect_four", domains=["board"])
    session.add(scenario)
    session.commit()
    return scenario


def _count(session: Session, model: type[Base]) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def _fails(session: Session, *rows: Base) -> None:
    session.add_all(rows)
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_defaults_are_filled(session: Session) -> None:
    user = _user(session)
    version = _version(session, _agent(session, user))
    assert isinstance(user.id, uuid.UUID)
    assert user.role == "user"
    assert user.disabled is False
    assert user.created_at.tzinfo is not None
    assert version.lifecycle_state == "registered"
    assert version.deprecated is False
    assert version.played is False


def test_foreign_keys_are_enforced(session: Session) -> None:
    _fails(session, ApiKeyRow(user_id=uuid.uuid4(), name="ci", prefix="ds_x", key_hash="h"))


def test_username_is_unique(session: Session) -> None:
    _user(session, "ada")
    _fails(session, UserRow(username="ada"))


def test_agent_name_is_unique_per_owner(session: Session) -> None:
    ada, bob = _user(session, "ada"), _user(session, "bob")
    _agent(session, ada, "mcts")
    _agent(session, bob, "mcts")
    _fails(session, AgentRow(owner_id=ada.id, name="mcts"))


def test_version_is_unique_per_agent(session: Session) -> None:
    agent = _agent(session, _user(session))
    _version(session, agent, "1.0.0")
    _version(session, agent, "1.1.0")
    duplicate = AgentVersionRow(
        agent_id=agent.id,
        version="1.0.0",
        sha256="cd" * 32,
        manifest={},
        license="MIT",
        language="python",
        artifact_ref="x",
    )
    _fails(session, duplicate)


def test_api_key_hash_is_unique(session: Session) -> None:
    user = _user(session)
    session.add(ApiKeyRow(user_id=user.id, name="a", prefix="ds_a", key_hash="same"))
    session.commit()
    _fails(session, ApiKeyRow(user_id=user.id, name="b", prefix="ds_b", key_hash="same"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: UserRow(username="eve", role="root"),
        lambda: TournamentRow(
            owner_id=uuid.uuid4(), scenario_id="x", format="swiss", status="paused"
        ),
    ],
    ids=["role", "tournament-status"],
)
def test_closed_value_sets_are_checked(session: Session, make: Callable[[], Base]) -> None:
    _fails(session, make())


def test_lifecycle_state_and_match_status_are_checked(session: Session) -> None:
    version = _version(session, _agent(session, _user(session)))
    version.lifecycle_state = "flying"
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    _scenario(session)
    _fails(session, MatchRow(scenario_id="connect_four-v1", status="lost"))


def test_json_round_trip(session: Session) -> None:
    manifest = {
        "name": "mcts",
        "limits": {"move_ms": 200, "memory_mb": 256},
        "parameters": {"exploration": {"type": "float", "low": 0.1, "default": 1.4}},
        "scenarios": ["connect_four"],
        "flags": [True, False, None],
        "description": "Monte-Carlo \u00e9t\u00e9 \u2713",
    }
    version = _version(session, _agent(session, _user(session)))
    version.manifest = manifest
    session.commit()
    key = ApiKeyRow(
        user_id=_user(session, "bob").id,
        name="ci",
        prefix="ds_ci",
        key_hash="h",
        scopes=["agents:read", "matches:write"],
    )
    session.add(key)
    session.commit()
    session.expunge_all()
    loaded = session.get(AgentVersionRow, version.id)
    assert loaded is not None
    assert loaded.manifest == manifest
    loaded_key = session.get(ApiKeyRow, key.id)
    assert loaded_key is not None
    assert loaded_key.scopes == ["agents:read", "matches:write"]


def test_aware_datetimes_round_trip_as_utc(session: Session) -> None:
    user = _user(session)
    paris = timezone(timedelta(hours=2))
    issued = datetime(2025, 6, 1, 12, 30, 15, 123456, tzinfo=paris)
    token = RefreshTokenRow(
        user_id=user.id,
        family_id=uuid.uuid4(),
        token_hash="t",
        issued_at=issued,
        expires_at=issued + timedelta(days=30),
    )
    session.add(token)
    session.commit()
    session.expunge_all()
    loaded = session.get(RefreshTokenRow, token.id)
    assert loaded is not None
    assert loaded.issued_at == issued
    assert loaded.issued_at.utcoffset() == timedelta(0)
    assert loaded.issued_at.hour == 10
    assert loaded.expires_at - loaded.issued_at == timedelta(days=30)
    assert loaded.used_at is None


def test_naive_datetimes_are_refused(session: Session) -> None:
    user = _user(session)
    session.add(
        RefreshTokenRow(
            user_id=user.id,
            family_id=uuid.uuid4(),
            token_hash="t",
            expires_at=datetime(2030, 1, 1),  # naive on purpose
        )
    )
    with pytest.raises(StatementError, match="timezone-aware"):
        session.commit()
    session.rollback()


def test_deleting_a_user_deletes_keys_and_tokens_and_keeps_the_audit_log(
    session: Session,
) -> None:
    user = _user(session)
    session.add_all(
        [
            ApiKeyRow(user_id=user.id, name="ci", prefix="ds_ci", key_hash="k"),
            RefreshTokenRow(
                user_id=user.id,
                family_id=uuid.uuid4(),
                token_hash="t",
                expires_at=datetime.now(UTC) + timedelta(days=1),
            ),
            AuditLogRow(
                actor_id=user.id,
                actor_kind="user",
                action="user.login",
                target_type="user",
                target_id=str(user.id),
                correlation_id="c1",
                detail={"ip": "127.0.0.1"},
            ),
        ]
    )
    session.commit()
    session.execute(delete(UserRow).where(UserRow.id == user.id))
    session.commit()
    session.expunge_all()
    assert _count(session, ApiKeyRow) == 0
    assert _count(session, RefreshTokenRow) == 0
    entry = session.execute(select(AuditLogRow)).scalar_one()
    assert entry.actor_id is None
    assert entry.detail == {"ip": "127.0.0.1"}


def test_a_user_with_agents_cannot_be_deleted(session: Session) -> None:
    user = _user(session)
    _agent(session, user)
    with pytest.raises(IntegrityError):
        session.execute(delete(UserRow).where(UserRow.id == user.id))
        session.commit()
    session.rollback()


def test_deleting_an_agent_deletes_its_unplayed_versions_and_history(session: Session) -> None:
    agent = _agent(session, _user(session))
    version = _version(session, agent)
    session.add(
        AgentLifecycleEventRow(version_id=version.id, from_state="registered", to_state="deploying")
    )
    session.commit()
    session.execute(delete(AgentRow).where(AgentRow.id == agent.id))
    session.commit()
    assert _count(session, AgentVersionRow) == 0
    assert _count(session, AgentLifecycleEventRow) == 0


def _played_match(
    session: Session, version: AgentVersionRow, tournament: TournamentRow | None
) -> MatchRow:
    match = MatchRow(
        scenario_id="connect_four-v1",
        seed=7,
        options={"rows": 6},
        status="finished",
        tournament_id=tournament.id if tournament else None,
        replay_ref="replays/abc.json",
    )
    session.add(match)
    session.flush()
    session.add_all(
        [
            MatchResultRow(
                match_id=match.id,
                seat=0,
                agent_version_id=version.id,
                agent_ref="ada/mcts@1.0.0",
                status="ok",
                reward=1.0,
            ),
            MatchResultRow(match_id=match.id, seat=1, agent_ref="builtin/random", status="timeout"),
        ]
    )
    version.matches_played += 1
    session.commit()
    return match


def test_a_version_that_has_played_cannot_be_deleted(session: Session) -> None:
    agent = _agent(session, _user(session))
    version = _version(session, agent)
    _scenario(session)
    _played_match(session, version, None)
    assert version.played
    for statement in (
        delete(AgentVersionRow).where(AgentVersionRow.id == version.id),
        delete(AgentRow).where(AgentRow.id == agent.id),
    ):
        with pytest.raises(IntegrityError):
            session.execute(statement)
            session.commit()
        session.rollback()
    assert _count(session, AgentVersionRow) == 1


def test_match_results_have_one_row_per_seat(session: Session) -> None:
    version = _version(session, _agent(session, _user(session)))
    _scenario(session)
    match = _played_match(session, version, None)
    _fails(session, MatchResultRow(match_id=match.id, seat=0, agent_ref="x", status="ok"))


def test_deleting_a_tournament_deletes_its_matches_results_and_snapshots(
    session: Session,
) -> None:
    user = _user(session)
    version = _version(session, _agent(session, user))
    _scenario(session)
    tournament = TournamentRow(
        owner_id=user.id, scenario_id="connect_four-v1", format="round_robin", params={"rounds": 2}
    )
    session.add(tournament)
    session.commit()
    _played_match(session, version, tournament)
    session.add(
        RatingSnapshotRow(
            tournament_id=tournament.id,
            scenario_id="connect_four-v1",
            agent_ref="ada/mcts@1.0.0",
            method="openskill",
            rating=25.0,
            lower=20.0,
            upper=30.0,
            rank=1,
            matches=1,
        )
    )
    session.commit()
    session.execute(delete(TournamentRow).where(TournamentRow.id == tournament.id))
    session.commit()
    assert _count(session, MatchRow) == 0
    assert _count(session, MatchResultRow) == 0
    assert _count(session, RatingSnapshotRow) == 0
    assert _count(session, AgentVersionRow) == 1


def test_a_scenario_in_use_cannot_be_deleted(session: Session) -> None:
    _scenario(session)
    session.add(MatchRow(scenario_id="connect_four-v1"))
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(delete(ScenarioRow))
        session.commit()
    session.rollback()
