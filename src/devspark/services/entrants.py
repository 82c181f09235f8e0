"""Entrants: the agents a tournament or a match may seat, and where they play from.

Two kinds of reference name an entrant:

* ``builtin:NAME``, an agent shipped with DevSpark;
* ``agent:USER/NAME@VERSION``, a version uploaded to the registry
  (:mod:`devspark.services.registry`). ``@VERSION`` may be left out when entering: the
  newest playable version is chosen and pinned, so the stored reference always names
  one immutable version.

An uploaded version plays only while it is started (lifecycle ``online``, ``idle`` or
``busy``; ``POST /api/v1/agents/{id}/start``), is not deprecated and its agent is not
deleted. It always plays sandboxed: only :data:`UPLOAD_ISOLATION` levels are accepted
for a match or tournament that seats one (``process`` and ``trusted`` run agents as the
server's own user). Every entrant must declare the scenario in its manifest.

The arena cannot read the registry, so :class:`AgentStager` unpacks each version's
stored archive once, into ``<root>/<sha256>``, and hands the folder to the match spec
(:attr:`devspark.arena.match.MatchSpec.sources`) while the reference stays the agent's
name in results, standings and replays.
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from devspark.arena.agents import BUILTIN_PREFIX, builtin_names, resolve_agent
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from devspark.core.isolation import IsolationLevel
from devspark.core.lifecycle import LifecycleState
from devspark.core.manifest import AgentManifest
from devspark.core.packaging import content_hash
from devspark.store.archives import extract_agent_archive
from devspark.store.artifacts import ArtifactStore
from devspark.store.models import AgentRow, AgentVersionRow, UserRow

REGISTRY_PREFIX = "agent:"
"""Prefix of a reference to an uploaded agent version."""

PLAYABLE_STATES = frozenset(
    {LifecycleState.ONLINE.value, LifecycleState.IDLE.value, LifecycleState.BUSY.value}
)
"""Lifecycle states in which an uploaded version may play."""

UPLOAD_ISOLATION = frozenset({IsolationLevel.SANDBOX, IsolationLevel.GVISOR})
"""Isolation levels uploaded code may run at (namespaces, seccomp, its own uid)."""

_REF = re.compile(
    r"^agent:(?P<user>[A-Za-z0-9_.\-]{1,64})/(?P<name>[A-Za-z0-9_.\-]{1,64})"
    r"(?:@(?P<version>[0-9A-Za-z.+\-]{1,64}))?$"
)


@dataclass(frozen=True, slots=True)
class RegistryRef:
    """A parsed ``agent:USER/NAME[@VERSION]`` reference."""

    user: str
    name: str
    version: str | None

    def __str__(self) -> str:
        suffix = f"@{self.version}" if self.version else ""
        return f"{REGISTRY_PREFIX}{self.user}/{self.name}{suffix}"


def parse_registry_ref(ref: str) -> RegistryRef:
    """Parse an uploaded agent's reference.

    Raises:
        InvalidArgumentError: ``ref`` is not ``agent:USER/NAME`` or ``agent:USER/NAME@VERSION``.

    """
    found = _REF.match(ref)
    if found is None:
        raise InvalidArgumentError(
            f"agent {ref!r}: expected agent:USER/NAME or agent:USER/NAME@VERSION"
        )
    return RegistryRef(found["user"], found["name"], found["version"])


def is_uploaded(ref: str) -> bool:
    """Whether ``ref`` names an uploaded agent (``agent:...``)."""
    return ref.startswith(REGISTRY_PREFIX)


def find_version(session: Session, ref: str, *, include_deleted: bool = False) -> AgentVersionRow:
    """The registry version an ``agent:`` reference names (the newest when unpinned).

    Args:
        session: Database session.
        ref: ``agent:USER/NAME`` or ``agent:USER/NAME@VERSION``.
        include_deleted: Also find versions of a deleted agent (a match it entered
            before the deletion still plays).

    Raises:
        InvalidArgumentError: Malformed reference.
        NotFoundError: No such user, agent or version (or the agent was deleted).

    """
    parsed = parse_registry_ref(ref)
    query = (
        select(AgentRow)
        .join(UserRow, UserRow.id == AgentRow.owner_id)
        .where(UserRow.username == parsed.user, AgentRow.name == parsed.name)
    )
    if not include_deleted:
        query = query.where(AgentRow.deleted_at.is_(None))
    agent = session.scalars(query.order_by(AgentRow.deleted_at.is_not(None))).first()
    if agent is None:
        raise NotFoundError(f"agent {ref!r}: user {parsed.user!r} has no agent {parsed.name!r}")
    versions = select(AgentVersionRow).where(AgentVersionRow.agent_id == agent.id)
    if parsed.version is not None:
        version = session.scalar(versions.where(AgentVersionRow.version == parsed.version))
        if version is None:
            raise NotFoundError(f"agent {ref!r}: no version {parsed.version!r}")
        return version
    playable = [
        v
        for v in session.scalars(versions.order_by(AgentVersionRow.created_at.desc()))
        if not v.deprecated and v.lifecycle_state in PLAYABLE_STATES
    ]
    if not playable:
        raise FailedPreconditionError(
            f"agent {ref!r} has no started version: start one "
            f"(POST /api/v1/agents/{agent.id}/start) before entering it"
        )
    return playable[0]


def check_entrants(
    session: Session,
    refs: Sequence[str],
    isolation: IsolationLevel,
    scenario: str | None = None,
    field: str = "agents",
) -> list[str]:
    """Validate the entrants of a tournament or match; their pinned references.

    Args:
        session: Database session (read only).
        refs: ``builtin:NAME`` or ``agent:USER/NAME[@VERSION]`` references.
        isolation: The isolation they would play at.
        scenario: The versioned scenario id they would play; each must declare it.
        field: The request field the references came from, for error messages.

    Returns:
        The references in the same order, uploaded ones pinned to ``@VERSION``.

    Raises:
        InvalidArgumentError: A malformed reference, a reference that names no
            built-in or uploaded agent (with a "did you mean" for near names: see
            :func:`unresolved`), an isolation level below :data:`UPLOAD_ISOLATION` for
            an uploaded agent, or an agent that does not declare ``scenario``.
        FailedPreconditionError: An uploaded version that is deprecated or not started.

    """
    pinned: list[str] = []
    builtins = set(builtin_names())
    for index, ref in enumerate(refs):
        where = f"{field}[{index}]={ref!r}"
        if ref.startswith(BUILTIN_PREFIX):
            if ref.removeprefix(BUILTIN_PREFIX) not in builtins:
                raise InvalidArgumentError(f"{where}: no such built-in agent{_near_builtin(ref)}")
            if scenario is not None:
                _check_plays(ref, resolve_agent(ref).manifest, scenario)
            pinned.append(ref)
            continue
        if not is_uploaded(ref):
            raise InvalidArgumentError(
                f"{where}: expected builtin:NAME or agent:USER/NAME[@VERSION]"
                + _near_builtin(BUILTIN_PREFIX + ref)
            )
        if isolation not in UPLOAD_ISOLATION:
            allowed = ", ".join(sorted(level.value for level in UPLOAD_ISOLATION))
            raise InvalidArgumentError(
                f"agent {ref!r} is uploaded code: it cannot run with isolation "
                f"{isolation.value!r} (only {allowed})"
            )
        try:
            version = find_version(session, ref)
        except NotFoundError:
            raise InvalidArgumentError(f"{where}: {unresolved(session, ref)}") from None
        check_playable(ref, version)
        if scenario is not None:
            _check_plays(ref, AgentManifest.model_validate(version.manifest), scenario)
        parsed = parse_registry_ref(ref)
        pinned.append(str(RegistryRef(parsed.user, parsed.name, version.version)))
    return pinned


def _near(word: str, choices: Sequence[str]) -> list[str]:
    return difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)


def _did_you_mean(refs: Sequence[str]) -> str:
    return f": did you mean {' or '.join(f'`{ref}`' for ref in refs)}?" if refs else ""


def _near_builtin(ref: str) -> str:
    names = builtin_names()
    near = _near(ref.removeprefix(BUILTIN_PREFIX), names)
    return _did_you_mean([BUILTIN_PREFIX + name for name in near])


def unresolved(session: Session, ref: str) -> str:
    """Why an ``agent:`` reference names nothing, with the near references that exist.

    Suggestions come only from what anyone may see: agents that are not deleted, their
    owners' names and their versions. A near version of the same agent, else a near
    agent name of the same user, else the same agent under a near username, else a
    near username with agents.

    Args:
        session: Database session (read only).
        ref: The reference that did not resolve.

    """
    parsed = parse_registry_ref(ref)
    suffix = f"@{parsed.version}" if parsed.version else ""
    visible = session.execute(
        select(UserRow.username, AgentRow.name, AgentRow.id)
        .join(AgentRow, AgentRow.owner_id == UserRow.id)
        .where(AgentRow.deleted_at.is_(None))
    ).all()
    mine = {name: agent_id for user, name, agent_id in visible if user == parsed.user}
    if parsed.name in mine:  # so the version is missing
        versions = session.scalars(
            select(AgentVersionRow.version).where(AgentVersionRow.agent_id == mine[parsed.name])
        ).all()
        base = f"{REGISTRY_PREFIX}{parsed.user}/{parsed.name}"
        near = [f"{base}@{v}" for v in _near(str(parsed.version), versions)]
        return f"{base} has no version {parsed.version!r}{_did_you_mean(near)}"
    if mine:
        near = [
            f"{REGISTRY_PREFIX}{parsed.user}/{n}{suffix}" for n in _near(parsed.name, list(mine))
        ]
        return f"user {parsed.user!r} has no agent {parsed.name!r}{_did_you_mean(near)}"
    owners = sorted({user for user, name, _ in visible if name == parsed.name})
    near = [f"{REGISTRY_PREFIX}{u}/{parsed.name}{suffix}" for u in _near(parsed.user, owners)]
    if not near:
        users = sorted({user for user, _, _ in visible})
        near = [f"user `{user}`" for user in _near(parsed.user, users)]
        if near:
            return f"no user {parsed.user!r} has agents: did you mean {' or '.join(near)}?"
    return f"no user {parsed.user!r} has an agent {parsed.name!r}{_did_you_mean(near)}"


def _check_plays(ref: str, manifest: AgentManifest, scenario: str) -> None:
    if not manifest.plays(scenario):
        raise InvalidArgumentError(
            f"agent {ref!r} does not declare scenario {scenario!r} "
            f"(its scenarios: {manifest.scenarios})"
        )


def check_playable(ref: str, version: AgentVersionRow) -> None:
    """Raise unless ``version`` may play now.

    Raises:
        FailedPreconditionError: The version is deprecated or not started.

    """
    if version.deprecated:
        raise FailedPreconditionError(f"agent {ref!r}: version {version.version!r} is deprecated")
    if version.lifecycle_state not in PLAYABLE_STATES:
        raise FailedPreconditionError(
            f"agent {ref!r} is {version.lifecycle_state!r}: start it "
            f"(POST /api/v1/agents/{version.agent_id}/start) before it can play"
        )


class AgentStager:
    """Unpacks uploaded versions from the artifact store into folders matches load.

    Args:
        artifacts: Where the uploaded archives are.
        root: Where the folders go (``<root>/<sha256>``); created when missing.

    """

    def __init__(self, artifacts: ArtifactStore, root: Path) -> None:
        self.artifacts = artifacts
        self.root = root

    def folder(self, version: AgentVersionRow) -> Path:
        """The version's unpacked folder, unpacking it on first use.

        Raises:
            NotFoundError: Its archive is missing from the artifact store.
            FailedPreconditionError: The unpacked content does not match its recorded hash.

        """
        target = self.root / version.sha256
        if target.is_dir():
            return target
        if not self.artifacts.exists(version.artifact_ref):
            raise NotFoundError(
                f"version {version.version!r}: archive {version.artifact_ref} is missing"
            )
        data = self.artifacts.read_bytes(version.artifact_ref)
        name = "package.zip" if data[:2] == b"PK" else "package.tar.gz"
        extracted = extract_agent_archive(data, name, self.root)
        if extracted.sha256 != version.sha256 or content_hash(extracted.folder) != version.sha256:
            raise FailedPreconditionError(
                f"version {version.version!r}: unpacked content hash {extracted.sha256[:12]} "
                f"differs from the recorded {version.sha256[:12]}"
            )
        return extracted.folder

    def sources(self, session: Session, refs: Sequence[str]) -> tuple[str, ...]:
        """Per seat, the folder of an uploaded agent or ``""`` for a built-in.

        Playability was checked when the agent entered (:func:`check_entrants`): a
        version stopped or deprecated since then still plays what it entered.

        Raises:
            NotFoundError: A version or its archive no longer exists.
            FailedPreconditionError: An unpacked archive does not match its hash.

        """
        sources: list[str] = []
        for ref in refs:
            if not is_uploaded(ref):
                sources.append("")
                continue
            version = find_version(session, ref, include_deleted=True)
            sources.append(str(self.folder(version)))
        return tuple(sources)


def version_ids(session: Session, refs: Sequence[str]) -> dict[str, uuid.UUID]:
    """The registry version id of every uploaded reference among ``refs``.

    Pinned references (``agent:USER/NAME@VERSION``, as stored results name them) are
    found in one query; others as :func:`find_version` finds them. References that
    name nothing are left out.
    """
    ids: dict[str, uuid.UUID] = {}
    pinned: dict[tuple[str, str, str], str] = {}
    for ref in dict.fromkeys(refs):
        if not is_uploaded(ref):
            continue
        try:
            parsed = parse_registry_ref(ref)
        except InvalidArgumentError:
            continue
        if parsed.version is not None:
            pinned[(parsed.user, parsed.name, parsed.version)] = ref
            continue
        try:
            ids[ref] = find_version(session, ref, include_deleted=True).id
        except (NotFoundError, FailedPreconditionError):
            continue
    if pinned:
        found = session.execute(
            select(
                UserRow.username,
                AgentRow.name,
                AgentVersionRow.version,
                AgentVersionRow.id,
                AgentRow.deleted_at,
            )
            .join(AgentRow, AgentRow.id == AgentVersionRow.agent_id)
            .join(UserRow, UserRow.id == AgentRow.owner_id)
            .where(tuple_(UserRow.username, AgentRow.name, AgentVersionRow.version).in_(pinned))
            # An agent that was not deleted wins over a deleted one of the same name.
            .order_by(AgentRow.deleted_at.is_not(None).desc())
        )
        for user, name, version, version_id, _ in found:
            ids[pinned[(user, name, version)]] = version_id
    return ids


__all__ = [
    "PLAYABLE_STATES",
    "REGISTRY_PREFIX",
    "UPLOAD_ISOLATION",
    "AgentStager",
    "RegistryRef",
    "check_entrants",
    "check_playable",
    "find_version",
    "is_uploaded",
    "parse_registry_ref",
    "unresolved",
    "version_ids",
]
