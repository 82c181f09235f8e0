"""Audit log entries on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from devspark.core.errors import InvalidArgumentError
from devspark.services.audit import recent, record
from devspark.store.models import UserRow


def test_record_and_recent(session: Session) -> None:
    user = UserRow(username="ada", role="user")
    session.add(user)
    session.commit()
    first = record(
        session,
        actor=user,
        actor_kind="user",
        action="agent.create",
        target_type="agent",
        target_id="a1",
        correlation_id="req-1",
        detail={"name": "mcts"},
    )
    second = record(
        session,
        actor=None,
        actor_kind="system",
        action="ladder.start",
        target_type="tournament",
        target_id=None,
        correlation_id=None,
    )
    session.commit()
    session.expunge_all()

    entries = recent(session)
    assert [entry.id for entry in entries] == [second.id, first.id]
    newest, oldest = entries
    assert oldest.actor_id == user.id and oldest.actor_kind == "user"
    assert oldest.action == "agent.create" and oldest.target_id == "a1"
    assert oldest.correlation_id == "req-1" and oldest.detail == {"name": "mcts"}
    assert newest.actor_id is None and newest.target_id == ""
    assert len(newest.correlation_id) == 32 and newest.detail == {}
    assert [entry.id for entry in recent(session, limit=1)] == [second.id]


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("actor_kind", "robot", "actor_kind must be one of .*'robot'"),
        ("action", "", "action must be 1-64 characters"),
        ("target_type", "x" * 33, "target_type must be 1-32 characters"),
        ("correlation_id", "c" * 65, "correlation_id must be 1-64 characters"),
        ("target_id", "t" * 129, "target_id must be at most 128 characters"),
    ],
)
def test_record_validates(session: Session, field: str, value: str, match: str) -> None:
    fields = {
        "actor_kind": "system",
        "action": "x.y",
        "target_type": "agent",
        "target_id": "1",
        "correlation_id": "c",
    }
    with pytest.raises(InvalidArgumentError, match=match):
        record(session, actor=None, **{**fields, field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [0, 1001])
def test_recent_validates_limit(session: Session, limit: int) -> None:
    with pytest.raises(
        InvalidArgumentError, match=f"limit must be between 1 and 1000, got {limit}"
    ):
        recent(session, limit=limit)
