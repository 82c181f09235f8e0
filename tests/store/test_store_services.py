"""Migration 0006: the ``service_instances`` and ``tasks`` tables, their checks and indexes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from devspark.store.db import alembic_config, upgrade
from devspark.store.models import Base, ServiceInstanceRow, TaskRow, UserRow, utcnow


def _owner(session: Session) -> UserRow:
    user = UserRow(username="svc-owner")
    session.add(user)
    session.flush()
    return user


def _instance(owner: UserRow, **fields: object) -> ServiceInstanceRow:
    values: dict[str, object] = {
        "owner_id": owner.id,
        "agent_ref": "builtin:echo",
        "agent_name": "echo",
        "version": "1.0.0",
        "handles": ["echo"],
        **fields,
    }
    return ServiceInstanceRow(**values)


def _task(**fields: object) -> TaskRow:
    values: dict[str, object] = {"type": "echo", "deadline_at": utcnow() + timedelta(seconds=30)}
    return TaskRow(**{**values, **fields})


def test_rows_get_their_defaults(session: Session) -> None:
    owner = _owner(session)
    instance = _instance(owner)
    session.add(instance)
    session.flush()
    task = _task(payload={"a": 1}, instance_id=instance.id)
    session.add(task)
    session.commit()
    assert (instance.state, instance.desired, instance.concurrency, instance.load) == (
        "registered",
        "running",
        1,
        0.0,
    )
    assert (task.status, task.priority, task.timeout_s, task.max_attempts, task.attempts) == (
        "queued",
        5,
        30,
        3,
        0,
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda owner: _instance(owner, state="sleeping"),
        lambda owner: _instance(owner, desired="paused"),
        lambda owner: _instance(owner, concurrency=17),
        lambda owner: _instance(owner, load=1.5),
        lambda owner: _task(status="lost"),
        lambda owner: _task(priority=11),
        lambda owner: _task(timeout_s=0),
        lambda owner: _task(max_attempts=0),
    ],
)
def test_closed_sets_and_ranges_are_checked(
    session: Session, make: Callable[[UserRow], Base]
) -> None:
    owner = _owner(session)
    session.add(make(owner))
    with pytest.raises(IntegrityError):
        session.flush()


def test_0006_downgrades_and_upgrades_again(migrated: Engine) -> None:
    config = alembic_config()
    with migrated.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
    assert {"tasks", "service_instances"}.isdisjoint(inspect(migrated).get_table_names())
    upgrade(migrated)
    indexes = {index["name"] for index in inspect(migrated).get_indexes("tasks")}
    assert {"ix_tasks_claim", "ix_tasks_status_deadline_at"} <= indexes
