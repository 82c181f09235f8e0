"""Service agents: ``service_instances`` (instances kept on workers) and ``tasks``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIFECYCLE = (
    "state IN ('registered', 'deploying', 'online', 'busy', 'idle', 'offline', 'error', "
    "'maintenance')"
)
_TASK_STATUSES = (
    "status IN ('queued', 'assigned', 'running', 'succeeded', 'failed', 'timed_out', "
    "'dead_lettered')"
)


def _instances() -> None:
    op.create_table(
        "service_instances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("agent_ref", sa.String(length=255), nullable=False),
        sa.Column("agent_version_id", sa.Uuid(), nullable=True),
        sa.Column("agent_name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("handles", sa.JSON(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("desired", sa.String(length=16), nullable=False),
        sa.Column("worker_id", sa.Uuid(), nullable=True),
        sa.Column("load", sa.Float(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("tasks_done", sa.Integer(), nullable=False),
        sa.Column("tasks_failed", sa.Integer(), nullable=False),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaces", sa.Uuid(), nullable=True),
        sa.CheckConstraint(_LIFECYCLE, name=op.f("ck_service_instances_state")),
        sa.CheckConstraint(
            "desired IN ('running', 'stopped')", name=op.f("ck_service_instances_desired")
        ),
        sa.CheckConstraint(
            "concurrency >= 1 AND concurrency <= 16", name=op.f("ck_service_instances_concurrency")
        ),
        sa.CheckConstraint("load >= 0 AND load <= 1", name=op.f("ck_service_instances_load")),
        sa.ForeignKeyConstraint(
            ["agent_version_id"],
            ["agent_versions.id"],
            name=op.f("fk_service_instances_agent_version_id_agent_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_service_instances_owner_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["workers.id"],
            name=op.f("fk_service_instances_worker_id_workers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_instances")),
    )
    # A claim's lookup: unplaced instances that should run, oldest first.
    op.create_index(
        "ix_service_instances_claim", "service_instances", ["desired", "worker_id", "created_at"]
    )
    for column in ("agent_name", "owner_id", "worker_id"):
        op.create_index(op.f(f"ix_service_instances_{column}"), "service_instances", [column])


def _tasks() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("to_instance", sa.Uuid(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("worker_id", sa.Uuid(), nullable=True),
        sa.Column("instance_id", sa.Uuid(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_TASK_STATUSES, name=op.f("ck_tasks_status")),
        sa.CheckConstraint("priority >= 1 AND priority <= 10", name=op.f("ck_tasks_priority")),
        sa.CheckConstraint("timeout_s >= 1 AND timeout_s <= 3600", name=op.f("ck_tasks_timeout_s")),
        sa.CheckConstraint(
            "max_attempts >= 1 AND max_attempts <= 10", name=op.f("ck_tasks_max_attempts")
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["service_instances.id"],
            name=op.f("fk_tasks_instance_id_service_instances"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_tasks_owner_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["tasks.id"], name=op.f("fk_tasks_parent_id_tasks"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["workers.id"],
            name=op.f("fk_tasks_worker_id_workers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    # A claim's lookup: queued tasks of one type, by priority then age.
    op.create_index("ix_tasks_claim", "tasks", ["status", "type", "priority", "created_at"])
    # Housekeeping's lookup: unfinished tasks past their deadline.
    op.create_index(op.f("ix_tasks_status_deadline_at"), "tasks", ["status", "deadline_at"])
    for column in ("instance_id", "owner_id", "parent_id", "to_instance", "worker_id"):
        op.create_index(op.f(f"ix_tasks_{column}"), "tasks", [column])


def upgrade() -> None:
    """Apply this revision."""
    _instances()
    _tasks()


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("tasks")
    op.drop_table("service_instances")
