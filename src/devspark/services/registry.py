"""The agent registry: publish, list, download, deprecate, delete, start and stop agents.

An upload (.tar.gz or .zip) is unpacked and validated by
:func:`devspark.store.archives.extract_agent_archive` (size limits, path traversal, links,
manifest, licence, entrypoint). The manifest ``name`` is the agent name under its owner;
each new version must be strictly greater, in semantic-version precedence
(https://semver.org section 11), than every version already published for that agent,
and a published version is immutable. The uploaded bytes go to the
:class:`~devspark.store.artifacts.ArtifactStore` (kind ``"package"``).

Only the owner of an agent (with the ``user`` role) or an admin may change it. Every
lifecycle transition is checked against :data:`devspark.core.lifecycle.TRANSITIONS` and
recorded as an :class:`~devspark.store.models.AgentLifecycleEventRow`.

Every mutating method is one use case in one transaction: it makes its change, records
its audit entry (:class:`~devspark.services.audit.AuditContext`; by default the acting
user, authenticated as a ``user``) and commits once. On any failure it rolls back, so a
change is never kept without its audit entry.
"""

from __future__ import annotations

import difflib
import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from devspark.arena.agents import StartTrial, resolve_agent, start_once
from devspark.core.errors import (
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from devspark.core.lifecycle import TRANSITIONS, LifecycleState
from devspark.core.manifest import AgentManifest
from devspark.core.semver import SemVer as SemVer  # re-exported for existing imports
from devspark.core.semver import compare_semver as compare_semver
from devspark.sandbox import IsolationLevel, open_worker
from devspark.scenarios.registry import list_scenarios
from devspark.services.audit import AuditContext
from devspark.services.entrants import AgentStager
from devspark.services.keyset import Keyset, keyset_window
from devspark.store.archives import MAX_COMPRESSED_BYTES, ExtractedAgent, extract_agent_archive
from devspark.store.artifacts import ArtifactRef, ArtifactStore
from devspark.store.models import (
    AgentLifecycleEventRow,
    AgentRow,
    AgentVersionRow,
    MatchResultRow,
    MatchRow,
    TournamentRow,
    UserRow,
    utcnow,
)

T = TypeVar("T")

AGENTS = Keyset(
    "agents",
    (AgentRow.created_at, AgentRow.name, AgentRow.id),
    (datetime, str, uuid.UUID),
    descending=False,
)
"""The agents list's order: oldest first, by ``(created_at, name, id)``."""

MAX_PAGE_LIMIT = 100
"""The most rows one page of a listing may hold."""

MAX_ARCHIVE_BYTES = MAX_COMPRESSED_BYTES
"""The largest archive accepted, as uploaded (before unpacking)."""

_RUNNING = frozenset(
    {LifecycleState.DEPLOYING, LifecycleState.ONLINE, LifecycleState.BUSY, LifecycleState.IDLE}
)
_MANAGER_ROLES = frozenset({"user", "admin"})


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing.

    Attributes:
        items: The rows on this page.
        total: How many rows the whole listing holds; ``None`` on a cursor page.
        offset: Index of the first row of this page in the listing.
        limit: The most rows a page holds.
        next_cursor: Where the next page starts, for listings read by cursor
            (:mod:`devspark.services.keyset`); ``None`` at the end or for other listings.

    """

    items: list[T]
    total: int | None
    offset: int
    limit: int
    next_cursor: str | None = None


def _check_page(offset: int, limit: int) -> None:
    if offset < 0:
        raise InvalidArgumentError(f"offset {offset!r} must be >= 0")
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidArgumentError(f"limit {limit!r} must be between 1 and {MAX_PAGE_LIMIT}")


# --------------------------------------------------------------------------- registry


class AgentRegistry:
    """Agents and their versions, stored in the database and the artifact store.

    Args:
        session: The database session; mutating methods commit it.
        artifacts: Where package archives are stored.
        workdir: A scratch folder for unpacking uploads (emptied after each upload).

    """

    def __init__(
        self,
        session: Session,
        artifacts: ArtifactStore,
        workdir: Path,
        *,
        agents_dir: Path | None = None,
    ) -> None:
        self.session = session
        self.artifacts = artifacts
        self.workdir = Path(workdir)
        self.stager = AgentStager(artifacts, agents_dir or self.workdir.parent / "agents")

    # ----------------------------------------------------------------- publishing

    def publish(
        self,
        actor: UserRow,
        data: bytes,
        filename: str,
        *,
        agent_id: uuid.UUID | None = None,
        audit: AuditContext | None = None,
    ) -> AgentVersionRow:
        """Publish an uploaded agent archive as a new immutable version (one commit).

        Args:
            actor: Who uploads. Without ``agent_id`` the agent is ``actor``'s own agent
                named by the manifest, created on its first publish.
            data: The archive bytes (.tar.gz or .zip).
            filename: The uploaded file name; it must agree with the bytes.
            agent_id: Publish a new version of this existing agent (its owner or an
                admin only); the manifest name must be the agent's name.
            audit: Who publishes (its ``agent.publish`` entry); default ``actor``.

        Returns:
            The new version, in lifecycle state ``registered``.

        Raises:
            InvalidArgumentError: The archive, manifest or licence is invalid.
            PermissionDeniedError: ``actor`` may not publish to this agent.
            NotFoundError: ``agent_id`` names no agent.
            ConflictError: The version is not greater than every published version, or
                the same content is already published.

        """
        _check_manager(actor, "publish agents")
        scratch = self._scratch()
        try:
            extracted = extract_agent_archive(data, filename, scratch)
            _check_scenarios(extracted.manifest, filename)
            agent = self._target_agent(actor, extracted, agent_id)
            self._check_new_version(agent, extracted)
            try:
                version = self._insert_version(
                    actor, agent, extracted, data, _audit_of(actor, audit)
                )
            except IntegrityError as exc:  # a concurrent publish won the race; nothing stored
                self.session.rollback()
                raise ConflictError(
                    f"agent {extracted.manifest.name!r} version "
                    f"{extracted.manifest.version!r}: conflicts with existing data ({exc.orig})"
                ) from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return version

    def _scratch(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".publish-", dir=self.workdir))

    def _target_agent(
        self, actor: UserRow, extracted: ExtractedAgent, agent_id: uuid.UUID | None
    ) -> AgentRow | None:
        name = extracted.manifest.name
        if agent_id is not None:
            target = self.get_agent(agent_id)
            _check_owner(actor, target, "publish versions of")
            if target.name != name:
                raise InvalidArgumentError(
                    f"manifest field 'name' = {name!r} does not match agent {target.name!r}"
                )
            return target
        agent = self.session.scalars(
            select(AgentRow).where(AgentRow.owner_id == actor.id, AgentRow.name == name)
        ).one_or_none()
        if agent is not None and agent.deleted_at is not None:
            raise ConflictError(f"agent {name!r} was deleted; its name cannot be reused")
        return agent

    def _check_new_version(self, agent: AgentRow | None, extracted: ExtractedAgent) -> None:
        """Refuse a version not greater than every published one (or already published).

        The agent's row is locked first (``SELECT ... FOR UPDATE``; PostgreSQL), so
        concurrent publishes of one agent check and insert one after the other: without
        the lock, 1.0.2 and 1.0.5 could both pass while 1.0.7 was being committed.
        """
        if agent is None:
            return
        self.session.execute(select(AgentRow.id).where(AgentRow.id == agent.id).with_for_update())
        new = SemVer.parse(extracted.manifest.version)
        rows = self.session.execute(
            select(AgentVersionRow.version, AgentVersionRow.sha256).where(
                AgentVersionRow.agent_id == agent.id
            )
        ).all()
        for version, sha256 in rows:
            if sha256 == extracted.sha256:
                raise ConflictError(
                    f"agent {agent.name!r}: this content (sha256 {sha256}) is already "
                    f"published as version {version!r}"
                )
        for version, _ in rows:
            if version == str(new) or SemVer.parse(version) == new:
                raise ConflictError(
                    f"agent {agent.name!r}: version {str(new)!r} is already published "
                    f"as {version!r} and is immutable; publish a greater version"
                )
        latest = max((SemVer.parse(version) for version, _ in rows), default=None)
        if latest is not None and not new > latest:
            raise ConflictError(
                f"agent {agent.name!r}: version {str(new)!r} must be greater than the "
                f"latest published version {str(latest)!r}"
            )

    def _insert_version(
        self,
        actor: UserRow,
        agent: AgentRow | None,
        extracted: ExtractedAgent,
        data: bytes,
        audit: AuditContext,
    ) -> AgentVersionRow:
        """Insert the version and its audit entry, then store its package, then commit.

        The package is stored only once the rows are in (a publish that loses a race
        fails at the insert, before storing), so a failed upload leaves no file behind.
        """
        manifest = extracted.manifest
        ref = ArtifactRef("package", hashlib.sha256(data).hexdigest())
        if agent is None:
            agent = AgentRow(
                owner_id=actor.id,
                name=manifest.name,
                description=manifest.description,
            )
            self.session.add(agent)
            self.session.flush()
        elif manifest.description:
            agent.description = manifest.description
        version = AgentVersionRow(
            agent_id=agent.id,
            version=manifest.version,
            sha256=extracted.sha256,
            manifest=manifest.model_dump(mode="json"),
            license=manifest.license,
            language=manifest.language,
            artifact_ref=str(ref),
            lifecycle_state=LifecycleState.REGISTERED.value,
        )
        self.session.add(version)
        self.session.flush()
        self._record(version, LifecycleState.REGISTERED, LifecycleState.REGISTERED, "published")
        try:
            audit.record(
                self.session,
                "agent.publish",
                "agent_version",
                version.id,
                agent_id=str(version.agent_id),
                version=version.version,
            )
            self.artifacts.put_bytes(data, "package")  # content addressed: ``ref`` again
        except BaseException:
            self.session.rollback()
            raise
        self._commit(f"agent {manifest.name!r} version {manifest.version!r}")
        return version

    # ----------------------------------------------------------------- reading

    def get_agent(self, agent_id: uuid.UUID) -> AgentRow:
        """The agent ``agent_id`` (not deleted).

        Raises:
            NotFoundError: No such agent, or it was deleted.

        """
        agent = self.session.get(AgentRow, agent_id)
        if agent is None or agent.deleted_at is not None:
            raise NotFoundError(f"agent_id {str(agent_id)!r}: no such agent")
        return agent

    def get_version(self, version_id: uuid.UUID) -> AgentVersionRow:
        """The version ``version_id`` of an agent that is not deleted.

        Raises:
            NotFoundError: No such version, or its agent was deleted.

        """
        version = self.session.get(AgentVersionRow, version_id)
        if version is None:
            raise NotFoundError(f"version_id {str(version_id)!r}: no such agent version")
        self.get_agent(version.agent_id)
        return version

    def list_agents(
        self,
        owner: UserRow | uuid.UUID | None = None,
        *,
        offset: int = 0,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AgentRow]:
        """Agents that are not deleted, oldest first, optionally of one owner.

        Args:
            owner: Only this user's agents.
            offset: Index of the first row returned (0 with a cursor).
            limit: The most rows returned (``1..MAX_PAGE_LIMIT``).
            cursor: Continue after this ``next_cursor`` of a previous page (the same
                ``owner``); ``""``: the first page. A cursor page has no ``total``.

        Raises:
            InvalidArgumentError: ``offset`` or ``limit`` is out of range, or ``cursor``
                is malformed, from another list, or comes with an ``offset``.

        """
        _check_page(offset, limit)
        query = select(AgentRow).where(AgentRow.deleted_at.is_(None))
        if owner is not None:
            owner_id = owner.id if isinstance(owner, UserRow) else owner
            query = query.where(AgentRow.owner_id == owner_id)
        window = keyset_window(
            self.session, query, AGENTS, cursor=cursor, offset=offset, limit=limit
        )
        return Page(window.items, window.total, offset, limit, window.next_cursor)

    def list_versions(
        self, agent_id: uuid.UUID, *, offset: int = 0, limit: int = 50
    ) -> Page[AgentVersionRow]:
        """The versions of ``agent_id``, deprecated ones included, oldest first.

        Raises:
            NotFoundError: No such agent.
            InvalidArgumentError: ``offset`` or ``limit`` is out of range.

        """
        self.get_agent(agent_id)
        query = (
            select(AgentVersionRow)
            .where(AgentVersionRow.agent_id == agent_id)
            .order_by(AgentVersionRow.created_at, AgentVersionRow.version)
        )
        return self._page(query, offset, limit)

    def list_events(self, version_id: uuid.UUID) -> list[AgentLifecycleEventRow]:
        """The lifecycle history of ``version_id``, oldest first.

        Raises:
            NotFoundError: No such version.

        """
        self.get_version(version_id)
        return list(
            self.session.scalars(
                select(AgentLifecycleEventRow)
                .where(AgentLifecycleEventRow.version_id == version_id)
                .order_by(AgentLifecycleEventRow.at)
            )
        )

    def version_of(self, agent_id: uuid.UUID, version_id: uuid.UUID) -> AgentVersionRow:
        """The version ``version_id``, which must belong to agent ``agent_id``.

        Raises:
            NotFoundError: No such version of that agent (or the agent was deleted).

        """
        version = self.get_version(version_id)
        if version.agent_id != agent_id:
            raise NotFoundError(
                f"version_id {str(version_id)!r}: no such version of agent_id {str(agent_id)!r}"
            )
        return version

    def target_version(self, agent_id: uuid.UUID, version_id: uuid.UUID | None) -> AgentVersionRow:
        """The version a lifecycle request acts on: ``version_id``, else the newest live one.

        Args:
            agent_id: The agent.
            version_id: A version of it; ``None``: its greatest version (semantic-version
                precedence) that is not deprecated.

        Raises:
            NotFoundError: No such agent, or no such version of it.
            FailedPreconditionError: Every version of the agent is deprecated.

        """
        if version_id is not None:
            return self.version_of(agent_id, version_id)
        agent = self.get_agent(agent_id)
        live = list(
            self.session.scalars(
                select(AgentVersionRow).where(
                    AgentVersionRow.agent_id == agent_id, AgentVersionRow.deprecated.is_(False)
                )
            )
        )
        if not live:
            raise FailedPreconditionError(
                f"agent {agent.name!r} has no version that is not deprecated"
            )
        return max(live, key=lambda version: SemVer.parse(version.version))

    def owner_names(self, agents: Sequence[AgentRow]) -> dict[uuid.UUID, str]:
        """The usernames of the owners of ``agents``, by user id (one query)."""
        ids = {agent.owner_id for agent in agents}
        if not ids:
            return {}
        query = select(UserRow.id, UserRow.username).where(UserRow.id.in_(ids))
        return {user_id: name for user_id, name in self.session.execute(query)}

    def download(self, version_id: uuid.UUID) -> bytes:
        """The archive bytes exactly as they were uploaded for ``version_id``.

        Raises:
            NotFoundError: No such version, or its archive is missing.

        """
        return self.artifacts.read_bytes(self.get_version(version_id).artifact_ref)

    def _page(self, query: Select[T], offset: int, limit: int) -> Page[T]:
        _check_page(offset, limit)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        items = list(self.session.scalars(query.offset(offset).limit(limit)))
        return Page(items, total, offset, limit)

    # ----------------------------------------------------------------- changing

    def deprecate(
        self, actor: UserRow, version_id: uuid.UUID, *, audit: AuditContext | None = None
    ) -> AgentVersionRow:
        """Flag ``version_id`` as deprecated; it stays listed and downloadable (one commit).

        Args:
            actor: Who deprecates it (its owner or an admin).
            version_id: The version.
            audit: Who acts, for its ``agent.deprecate`` entry; default ``actor``.

        Raises:
            NotFoundError: No such version.
            PermissionDeniedError: ``actor`` is neither the owner nor an admin.

        """
        version = self.get_version(version_id)
        _check_owner(actor, self.get_agent(version.agent_id), "deprecate versions of")
        version.deprecated = True
        self._audit_version(_audit_of(actor, audit), "agent.deprecate", version)
        self._commit(f"version_id {str(version_id)!r}")
        return version

    def delete_version(
        self, actor: UserRow, version_id: uuid.UUID, *, audit: AuditContext | None = None
    ) -> None:
        """Delete a version that never played and is not running, with its archive.

        The row and its ``agent.version_delete`` audit entry commit together; the
        archive is removed afterwards when no other version shares it.

        Args:
            actor: Who deletes it (its owner or an admin).
            version_id: The version.
            audit: Who acts, for the audit entry; default ``actor``.

        Raises:
            NotFoundError: No such version.
            PermissionDeniedError: ``actor`` is neither the owner nor an admin.
            ConflictError: The version has played (deprecate it instead).
            FailedPreconditionError: The version is running (stop it first).

        """
        version = self.get_version(version_id)
        _check_owner(actor, self.get_agent(version.agent_id), "delete versions of")
        self._check_deletable(version)
        ref = version.artifact_ref
        self._audit_version(_audit_of(actor, audit), "agent.version_delete", version)
        self.session.delete(version)
        self._commit(f"version_id {str(version_id)!r}")
        still_used = self.session.scalar(
            select(exists().where(AgentVersionRow.artifact_ref == ref))
        )
        if not still_used:
            self.artifacts.delete(ref)

    def delete_agent(
        self, actor: UserRow, agent_id: uuid.UUID, *, audit: AuditContext | None = None
    ) -> AgentRow:
        """Soft-delete an agent (``deleted_at``) when none of its versions played or runs.

        The change and its ``agent.delete`` audit entry commit together.

        Args:
            actor: Who deletes it (its owner or an admin).
            agent_id: The agent.
            audit: Who acts, for the audit entry; default ``actor``.

        Raises:
            NotFoundError: No such agent.
            PermissionDeniedError: ``actor`` is neither the owner nor an admin.
            ConflictError: A version has played (deprecate it instead).
            FailedPreconditionError: A version is running (stop it first).

        """
        agent = self.get_agent(agent_id)
        _check_owner(actor, agent, "delete")
        for version in self.session.scalars(
            select(AgentVersionRow).where(AgentVersionRow.agent_id == agent_id)
        ):
            self._check_deletable(version)
        agent.deleted_at = utcnow()
        _audit_of(actor, audit).record(self.session, "agent.delete", "agent", agent_id)
        self._commit(f"agent_id {str(agent_id)!r}")
        return agent

    def _check_deletable(self, version: AgentVersionRow) -> None:
        referenced = self.session.scalar(
            select(exists().where(MatchResultRow.agent_version_id == version.id))
        )
        if version.played or referenced:
            raise ConflictError(
                f"version {version.version!r} has played {version.matches_played} match(es) "
                "and cannot be deleted; deprecate it instead"
            )
        if LifecycleState(version.lifecycle_state) in _RUNNING:
            raise FailedPreconditionError(
                f"version {version.version!r} is {version.lifecycle_state!r}; stop it "
                "before deleting"
            )
        entered = self._entered_in(version)
        if entered:
            raise ConflictError(
                f"version {version.version!r} is entered in {entered} that has not finished "
                "and cannot be deleted; cancel it or let it finish first"
            )

    def _entered_in(self, version: AgentVersionRow) -> str | None:
        """What unfinished tournament or match names this version, if any."""
        agent = self.get_agent(version.agent_id)
        owner = self.session.get(UserRow, agent.owner_id)
        if owner is None:
            return None
        ref = f"agent:{owner.username}/{agent.name}@{version.version}"
        for tournament_id, params in self.session.execute(
            select(TournamentRow.id, TournamentRow.params).where(
                TournamentRow.status.in_(("created", "running"))
            )
        ):
            if ref in (params or {}).get("agents", []) or ref in (params or {}).get(
                "baselines", []
            ):
                return f"tournament {tournament_id}"
        for match_id, options in self.session.execute(
            select(MatchRow.id, MatchRow.options).where(MatchRow.status.in_(("queued", "running")))
        ):
            if ref in ((options or {}).get("pairing") or {}).get("agents", []):
                return f"match {match_id}"
        return None

    # ----------------------------------------------------------------- lifecycle

    def start(
        self, actor: UserRow, version_id: uuid.UUID, *, audit: AuditContext | None = None
    ) -> AgentVersionRow:
        """Bring a version online (through ``deploying``); a no-op when it already runs.

        The transitions and the ``agent.start`` audit entry commit together (the entry
        is written for a no-op too). A version that fails its trial start ends
        ``error``: that is committed with its entry (``error`` in its detail), then the
        failure is raised.

        Args:
            actor: Who starts it (its owner or an admin).
            version_id: The version.
            audit: Who acts, for the audit entry; default ``actor``.

        Raises:
            NotFoundError: No such version.
            PermissionDeniedError: ``actor`` is neither the owner nor an admin.
            FailedPreconditionError: The version is deprecated, or a transition is not
                allowed from its state.

        """
        context = _audit_of(actor, audit)
        version = self._owned_version(actor, version_id, "start")
        if version.deprecated:
            raise FailedPreconditionError(f"version {version.version!r} is deprecated")
        state = LifecycleState(version.lifecycle_state)
        if state in _RUNNING - {LifecycleState.DEPLOYING}:
            return self._walk(version, [], context, "agent.start")
        who = f"start requested by {actor.username!r}"
        self._check_path(version, [LifecycleState.DEPLOYING, LifecycleState.ONLINE])
        trial = self._trial(version)
        if not trial.ok:
            failed = f"tried in the sandbox: {trial.reason}"
            path = [(LifecycleState.DEPLOYING, who), (LifecycleState.ERROR, failed)]
            self._walk(version, path, context, "agent.start", error=failed)
            raise FailedPreconditionError(f"version {version.version!r}: {failed}")
        path = [(LifecycleState.DEPLOYING, who), (LifecycleState.ONLINE, "deployed: said ready")]
        return self._walk(version, path, context, "agent.start")

    def _trial(self, version: AgentVersionRow) -> StartTrial:
        """Start the version once in the sandbox uploads play in, and stop it."""
        package = resolve_agent(str(self.stager.folder(version)))
        worker = open_worker(package, IsolationLevel.SANDBOX)
        try:
            return start_once(worker)
        finally:
            worker.close()

    def stop(
        self, actor: UserRow, version_id: uuid.UUID, *, audit: AuditContext | None = None
    ) -> AgentVersionRow:
        """Take a version offline; a no-op when it already is.

        The transition and the ``agent.stop`` audit entry commit together (the entry is
        written for a no-op too).

        Args:
            actor: Who stops it (its owner or an admin).
            version_id: The version.
            audit: Who acts, for the audit entry; default ``actor``.

        Raises:
            NotFoundError: No such version.
            PermissionDeniedError: ``actor`` is neither the owner nor an admin.
            FailedPreconditionError: The transition is not allowed from its state.

        """
        context = _audit_of(actor, audit)
        version = self._owned_version(actor, version_id, "stop")
        if version.lifecycle_state == LifecycleState.OFFLINE.value:
            return self._walk(version, [], context, "agent.stop")
        path = [(LifecycleState.OFFLINE, f"stop requested by {actor.username!r}")]
        return self._walk(version, path, context, "agent.stop")

    def transition(
        self,
        actor: UserRow,
        version_id: uuid.UUID,
        target: LifecycleState | str,
        *,
        reason: str,
        audit: AuditContext | None = None,
    ) -> AgentVersionRow:
        """Move a version to ``target`` in one allowed step (maintenance, error, busy...).

        The transition and its ``agent.transition`` audit entry (``to_state`` and
        ``reason`` in its detail) commit together.

        Raises:
            InvalidArgumentError: ``target`` is not a lifecycle state.
            NotFoundError: No such version.
            PermissionDeniedError: ``actor`` is neither the owner nor an admin.
            FailedPreconditionError: ``TRANSITIONS`` does not allow the move.

        """
        try:
            goal = LifecycleState(target)
        except ValueError:
            known = [state.value for state in LifecycleState]
            raise InvalidArgumentError(f"target {target!r} is not one of {known!r}") from None
        version = self._owned_version(actor, version_id, "change the lifecycle of")
        return self._walk(
            version,
            [(goal, reason)],
            _audit_of(actor, audit),
            "agent.transition",
            to_state=goal.value,
            reason=reason,
        )

    def _owned_version(self, actor: UserRow, version_id: uuid.UUID, what: str) -> AgentVersionRow:
        version = self.get_version(version_id)
        _check_owner(actor, self.get_agent(version.agent_id), what)
        return version

    def _walk(
        self,
        version: AgentVersionRow,
        path: list[tuple[LifecycleState, str]],
        audit: AuditContext,
        action: str,
        **detail: str,
    ) -> AgentVersionRow:
        """Walk ``path``, record the audit entry ``action``, commit once."""
        self._check_path(version, [target for target, _ in path])
        try:
            for target, reason in path:
                current = LifecycleState(version.lifecycle_state)
                if target != current:
                    self._record(version, current, target, reason)
                    version.lifecycle_state = target.value
            self._audit_version(audit, action, version, **detail)
        except BaseException:
            self.session.rollback()
            raise
        self._commit(f"version {version.version!r}")
        return version

    def _audit_version(
        self, audit: AuditContext, action: str, version: AgentVersionRow, **detail: str
    ) -> None:
        audit.record(
            self.session,
            action,
            "agent_version",
            version.id,
            agent_id=str(version.agent_id),
            version=version.version,
            **detail,
        )

    @staticmethod
    def _check_path(version: AgentVersionRow, path: list[LifecycleState]) -> None:
        """Validate a whole path of transitions before changing anything."""
        state = LifecycleState(version.lifecycle_state)
        for target in path:
            if target != state and target not in TRANSITIONS[state]:
                raise FailedPreconditionError(
                    f"version {version.version!r}: lifecycle cannot go from "
                    f"{state.value!r} to {target.value!r}"
                )
            state = target

    def _record(
        self,
        version: AgentVersionRow,
        source: LifecycleState,
        target: LifecycleState,
        reason: str,
    ) -> None:
        # Events are ordered by time; keep them strictly increasing even when the clock
        # does not move between two transitions.
        last = self.session.scalar(
            select(func.max(AgentLifecycleEventRow.at)).where(
                AgentLifecycleEventRow.version_id == version.id
            )
        )
        at = utcnow()
        if last is not None and at <= last:
            at = last + timedelta(microseconds=1)
        self.session.add(
            AgentLifecycleEventRow(
                version_id=version.id,
                from_state=source.value,
                to_state=target.value,
                reason=reason,
                at=at,
            )
        )
        self.session.flush()

    def _commit(self, what: str) -> None:
        """Commit the use case's one transaction; roll it back on any failure."""
        try:
            self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            raise ConflictError(f"{what}: conflicts with existing data ({exc.orig})") from None
        except BaseException:
            self.session.rollback()
            raise


def _check_scenarios(manifest: AgentManifest, filename: str) -> None:
    """Refuse a manifest naming a scenario this server does not have.

    Raises:
        InvalidArgumentError: naming the scenario, with a near name when there is one.

    """
    infos = list_scenarios()
    known = sorted({info.id for info in infos} | {info.full_id for info in infos})
    for name in manifest.scenarios:
        if name == "*" or name in known:
            continue
        near = difflib.get_close_matches(name, known, n=1)
        hint = (
            f"did you mean `{near[0]}`?"
            if near
            else f"known: {', '.join(sorted(info.id for info in infos))}, or '*' for any"
        )
        raise InvalidArgumentError(
            f"{filename}: field 'scenarios' = {list(manifest.scenarios)!r}: unknown scenario "
            f"{name!r} ({hint})"
        )


def _audit_of(actor: UserRow, audit: AuditContext | None) -> AuditContext:
    """``audit``, or the acting user authenticated as a ``user`` when none is given."""
    return audit if audit is not None else AuditContext(actor=actor, actor_kind="user")


def _check_manager(actor: UserRow, what: str) -> None:
    if actor.disabled or actor.role not in _MANAGER_ROLES:
        raise PermissionDeniedError(f"user {actor.username!r} (role {actor.role!r}) may not {what}")


def _check_owner(actor: UserRow, agent: AgentRow, what: str) -> None:
    _check_manager(actor, f"{what} agents")
    if actor.role != "admin" and actor.id != agent.owner_id:
        raise PermissionDeniedError(
            f"user {actor.username!r} may not {what} agent {agent.name!r}: "
            "only its owner or an admin may"
        )


__all__ = [
    "MAX_ARCHIVE_BYTES",
    "MAX_PAGE_LIMIT",
    "AgentLifecycleEventRow",
    "AgentRegistry",
    "AgentRow",
    "AgentVersionRow",
    "Page",
    "SemVer",
    "compare_semver",
]
