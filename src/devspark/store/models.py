"""SQLAlchemy ORM rows: the durable form of users, agents, matches, tournaments, ratings.

One model per layer: these ``*Row`` classes are the storage layer only;
the domain keeps its own dataclasses in :mod:`devspark.core`.

Conventions:
    * Ids are :class:`uuid.UUID` stored with SQLAlchemy's portable ``Uuid`` type (native
      ``uuid`` on PostgreSQL, ``CHAR(32)`` on SQLite), generated in Python with
      :func:`uuid.uuid4`. Scenarios are the exception: their id is the registry name
      with its version, such as ``"connect_four-v1"``.
    * Every timestamp is a timezone-aware UTC :class:`~datetime.datetime`
      (:class:`UtcDateTime`); a naive datetime is refused on write.
    * Free-form structures (manifests, options, scopes) use the portable ``JSON`` type.
    * Closed sets of values (roles, statuses) are strings guarded by a CHECK constraint.
    * Constraint names follow :data:`NAMING_CONVENTION`, so migrations name them the same
      way on every database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from devspark.core.lifecycle import LifecycleState
from devspark.core.status import MATCH_STATUSES as MATCH_STATUSES  # re-exported
from devspark.core.status import (
    TASK_STATUSES,
    WORKER_STATES,
    MatchStatus,
    TaskStatus,
    TournamentStatus,
)
from devspark.core.status import TOURNAMENT_STATUSES as TOURNAMENT_STATUSES  # re-exported

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("viewer", "user", "agent", "admin")
LIFECYCLE_STATES = tuple(state.value for state in LifecycleState)


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class UtcDateTime(TypeDecorator[datetime]):
    """A ``DateTime(timezone=True)`` that always returns aware UTC datetimes.

    SQLite keeps no offset, so values are normalised to UTC on write and tagged UTC on
    read; PostgreSQL stores ``timestamptz``. Naive datetimes are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes and convert aware ones to UTC."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"datetime must be timezone-aware, got naive {value.isoformat()}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base for every DevSpark table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UtcDateTime(),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, default=uuid.uuid4)


def _created_at() -> Mapped[datetime]:
    return mapped_column(default=utcnow)


class UserRow(Base):
    """An account: a person, a CI robot or an agent identity."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)

    id: Mapped[uuid.UUID] = _id()
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[datetime] = _created_at()
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiKeyRow(Base):
    """An API key: shown once, stored as a hash, scoped and revocable."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(255), unique=True)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = _created_at()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class RefreshTokenRow(Base):
    """A rotating refresh token; a reused token revokes its whole ``family_id``."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(255), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AgentRow(Base):
    """An agent (owner/name); its code lives in :class:`AgentVersionRow`."""

    __tablename__ = "agents"
    __table_args__ = (
        UniqueConstraint("owner_id", "name"),
        Index(None, "created_at", "name", "id"),  # the agents list's order
    )

    id: Mapped[uuid.UUID] = _id()
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created_at()
    deleted_at: Mapped[datetime | None]


class AgentVersionRow(Base):
    """One published, immutable version (agent, semver, sha256) of an agent."""

    __tablename__ = "agent_versions"
    __table_args__ = (
        UniqueConstraint("agent_id", "version"),
        CheckConstraint(_one_of("lifecycle_state", LIFECYCLE_STATES), name="lifecycle_state"),
        CheckConstraint("matches_played >= 0", name="matches_played"),
    )

    id: Mapped[uuid.UUID] = _id()
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    manifest: Mapped[dict[str, Any]]
    license: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    artifact_ref: Mapped[str] = mapped_column(String(255))
    lifecycle_state: Mapped[str] = mapped_column(
        String(16), default=LifecycleState.REGISTERED.value
    )
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)
    matches_played: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _created_at()

    @property
    def played(self) -> bool:
        """Whether this version has played a match (it may then never be deleted)."""
        return self.matches_played > 0


class AgentLifecycleEventRow(Base):
    """One recorded lifecycle transition of an agent version, with its reason."""

    __tablename__ = "agent_lifecycle_events"
    __table_args__ = (Index(None, "version_id", "at"),)

    id: Mapped[uuid.UUID] = _id()
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_versions.id", ondelete="CASCADE")
    )
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ScenarioRow(Base):
    """A scenario known to the server, keyed by its versioned registry id."""

    __tablename__ = "scenarios"
    __table_args__ = (
        CheckConstraint("players_min >= 1 AND players_max >= players_min", name="players"),
    )

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    domains: Mapped[list[str]] = mapped_column(default=list)
    players_min: Mapped[int] = mapped_column(Integer, default=2)
    players_max: Mapped[int] = mapped_column(Integer, default=2)
    difficulties: Mapped[list[str]] = mapped_column(default=list)


class TournamentRow(Base):
    """A tournament: format, parameters, seed and progress."""

    __tablename__ = "tournaments"
    __table_args__ = (
        CheckConstraint(_one_of("status", TOURNAMENT_STATUSES), name="status"),
        # Keyset pages, newest first, of the whole list and of its filters.
        Index(None, "created_at", "id"),
        Index(None, "status", "created_at", "id"),
        Index(None, "owner_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = _id()
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    scenario_id: Mapped[str] = mapped_column(ForeignKey("scenarios.id", ondelete="RESTRICT"))
    format: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=TournamentStatus.CREATED)
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    """Why the tournament ended ``failed``; ``None`` otherwise."""
    served_at: Mapped[datetime | None]
    """When a worker last claimed one of its matches: the least recently served goes first."""
    next_play_at: Mapped[datetime | None]
    """A paced tournament starts no match before this time (``None``: no wait)."""


class MatchRow(Base):
    """A match: its spec (scenario, seed, options), progress and replay reference."""

    __tablename__ = "matches"
    __table_args__ = (
        CheckConstraint(_one_of("status", MATCH_STATUSES), name="status"),
        Index("ix_matches_claim", "status", "tournament_id", "created_at"),
        # Keyset pages, newest first, of the whole list and of its filters.
        Index(None, "created_at", "id"),
        Index(None, "status", "created_at", "id"),
        Index(None, "tournament_id", "created_at", "id"),
        Index(None, "owner_id", "created_at", "id"),
        Index(None, "scenario_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = _id()
    scenario_id: Mapped[str] = mapped_column(ForeignKey("scenarios.id", ondelete="RESTRICT"))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    isolation: Mapped[str] = mapped_column(String(32), default="process")
    status: Mapped[str] = mapped_column(String(16), default=MatchStatus.QUEUED)
    tournament_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tournaments.id", ondelete="CASCADE")
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    """Who started a match of its own; ``None`` for a tournament's matches."""
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    replay_ref: Mapped[str | None] = mapped_column(String(255))
    steps: Mapped[int] = mapped_column(Integer, default=0)
    wall_ms: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    """Why the match ended ``failed``; ``None`` otherwise."""
    worker_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workers.id", ondelete="SET NULL"), index=True
    )
    """The worker that claimed the match while it is ``running`` (and then played it)."""


class WorkerRow(Base):
    """A ``devspark worker`` process (or a server's embedded one): who plays, and how it is.

    A worker writes ``heartbeat_at`` every few seconds. One whose heartbeat is older than
    the lease is ``offline``: the matches it held go back to the queue.
    """

    __tablename__ = "workers"
    __table_args__ = (CheckConstraint(_one_of("state", WORKER_STATES), name="state"),)

    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    executor: Mapped[str] = mapped_column(String(16), default="local")
    slots: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default="idle")
    started_at: Mapped[datetime] = _created_at()
    heartbeat_at: Mapped[datetime] = mapped_column(index=True)
    stopped_at: Mapped[datetime | None]
    matches_played: Mapped[int] = mapped_column(Integer, default=0)
    in_flight: Mapped[int] = mapped_column(Integer, default=0)


class MatchResultRow(Base):
    """One seat's result in a match: who played, how it ended, what it used."""

    __tablename__ = "match_results"
    __table_args__ = (Index(None, "agent_ref", "match_id"),)  # the matches an agent played

    match_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True
    )
    seat: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_versions.id", ondelete="RESTRICT"), index=True
    )
    agent_ref: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(32))
    reward: Mapped[float] = mapped_column(Float, default=0.0)
    moves: Mapped[int] = mapped_column(Integer, default=0)
    wall_ms: Mapped[float] = mapped_column(Float, default=0.0)
    cpu_s: Mapped[float] = mapped_column(Float, default=0.0)
    peak_mb: Mapped[float] = mapped_column(Float, default=0.0)
    detail: Mapped[str] = mapped_column(Text, default="")


class RatingSnapshotRow(Base):
    """One agent's rating at a point in time, with its interval and rank."""

    __tablename__ = "rating_snapshots"
    __table_args__ = (Index(None, "scenario_id", "agent_ref", "taken_at"),)

    id: Mapped[uuid.UUID] = _id()
    tournament_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tournaments.id", ondelete="CASCADE"), index=True
    )
    scenario_id: Mapped[str | None] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    agent_ref: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(32))
    rating: Mapped[float] = mapped_column(Float)
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    rank: Mapped[int | None] = mapped_column(Integer)
    matches: Mapped[int] = mapped_column(Integer, default=0)
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLogRow(Base):
    """One state-changing call: actor, action, target and correlation id."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "target_type", "target_id"),)

    id: Mapped[uuid.UUID] = _id()
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(128))
    correlation_id: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


INSTANCE_DESIRED = ("running", "stopped")
"""What an owner wants of a service instance: kept running, or drained and stopped."""


class ServiceInstanceRow(Base):
    """A service agent instance: a sandboxed agent that lives on a worker and takes tasks.

    ``desired`` is what its owner wants; ``state`` (a lifecycle state) is what the worker
    holding it (``worker_id``; ``None`` until one claims it) last reported.
    """

    __tablename__ = "service_instances"
    __table_args__ = (
        CheckConstraint(_one_of("state", LIFECYCLE_STATES), name="state"),
        CheckConstraint(_one_of("desired", INSTANCE_DESIRED), name="desired"),
        CheckConstraint("concurrency >= 1 AND concurrency <= 16", name="concurrency"),
        CheckConstraint("load >= 0 AND load <= 1", name="load"),
        Index("ix_service_instances_claim", "desired", "worker_id", "created_at"),
        Index("ix_service_instances_replaces", "replaces"),
    )

    id: Mapped[uuid.UUID] = _id()
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    agent_ref: Mapped[str] = mapped_column(String(255))
    """The reference as given (``builtin:echo``, ``agent:ada/svc@1.0.0``)."""
    agent_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_versions.id", ondelete="SET NULL")
    )
    agent_name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(64))
    handles: Mapped[list[str]] = mapped_column(default=list)
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default=LifecycleState.REGISTERED.value)
    desired: Mapped[str] = mapped_column(String(16), default="running")
    worker_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workers.id", ondelete="SET NULL"), index=True
    )
    load: Mapped[float] = mapped_column(Float, default=0.0)
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    tasks_done: Mapped[int] = mapped_column(Integer, default=0)
    tasks_failed: Mapped[int] = mapped_column(Integer, default=0)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    replaces: Mapped[uuid.UUID | None]
    """The instance a rolling update replaces with this one (stopped once this is online)."""
    failures: Mapped[int] = mapped_column(Integer, default=0)
    """Failed placements in a row (reset once it serves); they space out its retries."""
    retry_at: Mapped[datetime | None]
    """After a failed placement, when a worker may claim it again (``None``: at once)."""


class TaskRow(Base):
    """A task for a service agent: a type, a payload, and what became of it."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(_one_of("status", TASK_STATUSES), name="status"),
        CheckConstraint("priority >= 1 AND priority <= 10", name="priority"),
        CheckConstraint("timeout_s >= 1 AND timeout_s <= 3600", name="timeout_s"),
        CheckConstraint("max_attempts >= 1 AND max_attempts <= 10", name="max_attempts"),
        Index("ix_tasks_claim", "status", "type", "priority", "created_at"),
        Index(None, "status", "deadline_at"),
    )

    id: Mapped[uuid.UUID] = _id()
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    type: Mapped[str] = mapped_column(String(128))
    payload: Mapped[Any] = mapped_column(JSON, nullable=True)
    to_instance: Mapped[uuid.UUID | None] = mapped_column(index=True)
    priority: Mapped[int] = mapped_column(Integer, default=5)
    timeout_s: Mapped[int] = mapped_column(Integer, default=30)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.QUEUED.value)
    worker_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workers.id", ondelete="SET NULL"), index=True
    )
    instance_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("service_instances.id", ondelete="SET NULL"), index=True
    )
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="SET NULL"), index=True
    )
    """The task whose agent submitted this one as a sub-task."""
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[Any] = mapped_column(JSON, nullable=True)
    """The latest progress the agent reported."""
    created_at: Mapped[datetime] = _created_at()
    assigned_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime]
    """When it times out: ``created_at + timeout_s``."""


class BoardPairRow(Base):
    """Two agents' pairwise results on one platform board: what a Bradley-Terry fit reads.

    ``board`` is ``"global"``, ``"scenario:<versioned id>"`` or ``"domain:<tag>"``;
    ``agent_a < agent_b``. A multi-player match adds one result per pair of seats, by
    rank (the higher reward wins, equal rewards draw). Incremented in the transaction
    that stores a match, so a fit costs the number of pairs, not of matches.
    """

    __tablename__ = "board_pairs"
    __table_args__ = (Index(None, "board", "agent_b"),)

    board: Mapped[str] = mapped_column(String(160), primary_key=True)
    agent_a: Mapped[str] = mapped_column(String(255), primary_key=True)
    agent_b: Mapped[str] = mapped_column(String(255), primary_key=True)
    wins: Mapped[int] = mapped_column(Integer, default=0)
    """``agent_a``'s wins over ``agent_b``."""
    losses: Mapped[int] = mapped_column(Integer, default=0)
    """``agent_b``'s wins over ``agent_a``."""
    draws: Mapped[int] = mapped_column(Integer, default=0)


class BoardRecordRow(Base):
    """An agent's record on one platform board, per final status of its seat."""

    __tablename__ = "board_records"

    board: Mapped[str] = mapped_column(String(160), primary_key=True)
    agent: Mapped[str] = mapped_column(String(255), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), primary_key=True)
    matches: Mapped[int] = mapped_column(Integer, default=0)
    wins: Mapped[int] = mapped_column(Integer, default=0)
    draws: Mapped[int] = mapped_column(Integer, default=0)
    losses: Mapped[int] = mapped_column(Integer, default=0)
    cpu_s: Mapped[float] = mapped_column(Float, default=0.0)
    moves: Mapped[int] = mapped_column(Integer, default=0)


class BoardInboxRow(Base):
    """A rated match the board keeper has not taken in yet (OpenSkill is order-dependent).

    ``counted`` says whether its pair and record counts were added when it was stored;
    matches stored before the boards kept counts arrive with ``False``.
    """

    __tablename__ = "board_inbox"
    __table_args__ = (Index(None, "finished_at", "match_id"),)

    match_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True
    )
    finished_at: Mapped[datetime]
    counted: Mapped[bool] = mapped_column(Boolean, default=True)


class BoardSkillRow(Base):
    """An agent's OpenSkill rating on one platform board, updated online in finish order."""

    __tablename__ = "board_skill"

    board: Mapped[str] = mapped_column(String(160), primary_key=True)
    agent: Mapped[str] = mapped_column(String(255), primary_key=True)
    mu: Mapped[float] = mapped_column(Float)
    sigma: Mapped[float] = mapped_column(Float)
    matches: Mapped[int] = mapped_column(Integer, default=0)


class BoardHistoryRow(Base):
    """One point of an agent's global OpenSkill history (thinned evenly as it grows)."""

    __tablename__ = "board_history"

    agent: Mapped[str] = mapped_column(String(255), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    """The rated match number after which the point was taken (from 1)."""
    mu: Mapped[float] = mapped_column(Float)
    sigma: Mapped[float] = mapped_column(Float)


class BoardStateRow(Base):
    """The board keeper's bookkeeping (one row): matches rated, and who keeps the boards."""

    __tablename__ = "board_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    leader: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]


class PlatformBoardRow(Base):
    """The latest platform boards of one rating method, as the API serves them.

    ``body_gz`` is the JSON document gzip-compressed (about a sixth of its size): clients
    that accept gzip get these bytes as they are.
    """

    __tablename__ = "platform_boards"

    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    body_gz: Mapped[bytes] = mapped_column(LargeBinary)
    matches: Mapped[int] = mapped_column(Integer, default=0)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
