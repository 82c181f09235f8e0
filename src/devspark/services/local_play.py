"""Play a tournament on this machine through the platform's own use case.

``devspark tournament run`` plays exactly what the server plays: it creates the
tournament (:func:`~devspark.services.tournaments.create_tournament`), starts it
(:func:`~devspark.services.tournaments.start_tournament`) and plays it with the steps a
worker takes (:func:`~devspark.services.durable.run_tournament_durably`), all in a
database of its own: a fresh SQLite file in a temporary folder, deleted afterwards, or
the one in a data folder, kept (``devspark serve --data-dir`` serves it later).

Entrants are built-in agents (``builtin:NAME``), which pass through, and local agent
folders, which are published into that database's registry as agents of the user
:data:`LOCAL_USER` (created when missing) and started, like an upload; the tournament
then enters them pinned, as ``agent:local/NAME@VERSION``. Uploaded code plays only at
the isolation levels of :data:`~devspark.services.entrants.UPLOAD_ISOLATION`, so folders
cannot play ``trusted`` or ``process``.

The results come back as an arena :class:`~devspark.arena.tournament.Tournament` read
from what the database stores: its outcomes from the match results, its standings from
the tournament's rating snapshots (the ratings, intervals and ranks the format's
deterministic run gives) joined with each agent's record.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.agents import BUILTIN_PREFIX
from devspark.arena.executors import make_executor
from devspark.arena.tournament import Tournament
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from devspark.core.isolation import IsolationLevel
from devspark.core.packaging import content_hash, package_files
from devspark.core.status import MatchStatus, TournamentStatus
from devspark.rating.leaderboard import LeaderRow, build_leaderboards
from devspark.rating.outcomes import Outcome
from devspark.services.audit import SYSTEM, AuditContext
from devspark.services.durable import run_tournament_durably
from devspark.services.entrants import (
    PLAYABLE_STATES,
    REGISTRY_PREFIX,
    UPLOAD_ISOLATION,
    AgentStager,
)
from devspark.services.playing import Playback, Played, outcome_of
from devspark.services.registry import AgentRegistry
from devspark.services.tournaments import (
    TournamentParams,
    create_tournament,
    get_tournament,
    planned_of,
    standings,
    start_tournament,
)
from devspark.services.user_admin import create_user, find_user
from devspark.store.artifacts import ArtifactStore
from devspark.store.db import DATABASE_FILE, make_engine, session_factory, upgrade
from devspark.store.models import AgentRow, AgentVersionRow, MatchResultRow, MatchRow, UserRow

LOCAL_USER = "local"
"""The account local agent folders are published under (``agent:local/NAME@VERSION``)."""

Progress = Callable[[int, int | None], None]
"""Told ``(matches played, matches planned)``: once before the first match, then after each."""


@dataclass(frozen=True, slots=True)
class LocalTournament:
    """A tournament played by :func:`play_local_tournament`.

    Attributes:
        tournament_id: Its row in the database.
        tournament: Scenario, format, seed, outcomes in the order they were stored and
            standings, as the database holds them (``results`` is left empty: the full
            match results are the database's match rows and replays).
        entrants: Each entrant as given, with the reference it played under.
        database_url: The kept database (with ``data_dir``); ``None`` when it was a
            temporary one, deleted since.

    """

    tournament_id: uuid.UUID
    tournament: Tournament
    entrants: dict[str, str]
    database_url: str | None


def play_local_tournament(
    *,
    scenario: str,
    format: str,
    agents: Sequence[str],
    rounds: int | None = None,
    baselines: Sequence[str] = (),
    options: dict[str, Any] | None = None,
    isolation: IsolationLevel = IsolationLevel.SANDBOX,
    seed: int = 0,
    workers: int | None = None,
    data_dir: Path | None = None,
    progress: Progress | None = None,
) -> LocalTournament:
    """Create, start and play a tournament to its end in a local database.

    Args:
        scenario: Scenario name or versioned id.
        format: One of :data:`devspark.arena.tournament.FORMATS`.
        agents: Entrants: ``builtin:NAME``, agent folders, or ``agent:USER/NAME[@V]``
            references to agents already in ``data_dir``'s registry.
        rounds: Legs, rounds, games per tie... (see
            :func:`~devspark.arena.tournament.build_format`); ``None``: the default.
        baselines: A gauntlet's fixed opponents (same forms as ``agents``).
        options: Scenario reset options of every match.
        isolation: Isolation level of every agent.
        seed: The format's seed (the matches' seeds follow from it).
        workers: Executor processes (or Ray actors); ``None``: the executor's default.
        data_dir: Keep the database, artifacts and replays in this folder (its
            ``devspark.db``); ``None``: a temporary folder, deleted afterwards.
        progress: Told how many matches are played out of how many are planned.

    Returns:
        The tournament as stored.

    Raises:
        InvalidArgumentError: Bad format, arguments, options or entrants, or a folder
            entrant at an isolation level uploaded code may not use.
        NotFoundError: Unknown scenario, built-in agent or folder.
        ConflictError: A folder's manifest version is already published in
            ``data_dir`` with other content (raise its version).
        FailedPreconditionError: A folder agent fails its trial start, or a match could
            not be played and the tournament failed.

    """
    refs = [*agents, *baselines]
    folders = [ref for ref in refs if _is_folder(ref)]
    if folders and isolation not in UPLOAD_ISOLATION:
        allowed = " or ".join(sorted(level.value for level in UPLOAD_ISOLATION))
        raise InvalidArgumentError(
            f"isolation={isolation.value!r}: agent folders ({', '.join(folders)}) are "
            f"published into the local registry and play as uploads do, at {allowed}; "
            f"use --isolation sandbox, or builtin: agents only for {isolation.value!r}"
        )
    with _folder(data_dir) as folder:
        url = f"sqlite:///{folder.resolve() / DATABASE_FILE}"
        engine = make_engine(url)
        try:
            upgrade(engine)
            factory = session_factory(engine)
            artifacts = ArtifactStore(folder / "artifacts")
            with factory() as session:
                entrants = _enter_folders(session, artifacts, folder, folders)
                tournament_id = _create_and_start(
                    session,
                    scenario=scenario,
                    format=format,
                    params=TournamentParams(
                        agents=tuple(entrants.get(ref, ref) for ref in agents),
                        rounds=rounds,
                        baselines=tuple(entrants.get(ref, ref) for ref in baselines),
                        options=options,
                        isolation=isolation,
                    ),
                    seed=seed,
                )
                planned = planned_of(get_tournament(session, tournament_id))
            playback = Playback(
                stager=AgentStager(artifacts, folder / "work" / "agents"),
                replays=artifacts if data_dir is not None else None,
            )
            status = _play(factory, tournament_id, playback, workers, planned, progress)
            with factory() as session:
                if status != TournamentStatus.FINISHED:
                    row = get_tournament(session, tournament_id)
                    raise FailedPreconditionError(
                        f"tournament {tournament_id} ended {status!r}"
                        + (f": {row.error}" if row.error else "")
                    )
                played = read_tournament(session, tournament_id)
        finally:
            engine.dispose()
    return LocalTournament(
        tournament_id=tournament_id,
        tournament=played,
        entrants={ref: entrants.get(ref, ref) for ref in refs},
        database_url=url if data_dir is not None else None,
    )


def read_tournament(session: Session, tournament_id: uuid.UUID) -> Tournament:
    """A finished tournament as the arena's :class:`Tournament`, from what is stored.

    Outcomes are its finished matches in the order they were queued; standings are its
    rating snapshots (ratings, intervals, ranks) joined with each agent's record (wins,
    draws, losses, CPU per move, statuses) counted from those outcomes.

    Raises:
        NotFoundError: No such tournament.
        FailedPreconditionError: It has not finished.

    """
    row = get_tournament(session, tournament_id)
    snapshots = standings(session, tournament_id)
    outcomes = _stored_outcomes(session, tournament_id, row.scenario_id)
    tournament = Tournament(scenario=row.scenario_id, format=row.format, seed=row.seed)
    tournament.outcomes.extend(outcomes)
    for outcome in outcomes:
        tournament.ratings.update(outcome)
    if outcomes:
        records = {
            line.agent: line
            for line in build_leaderboards(
                outcomes, {row.scenario_id: ()}, bootstrap=0
            ).by_scenario[row.scenario_id]
        }
        tournament.standings = sorted(
            (
                replace(
                    records[snap.agent_ref],
                    rank=snap.rank if snap.rank is not None else records[snap.agent_ref].rank,
                    rating=snap.rating,
                    lower=snap.lower if snap.lower is not None else snap.rating,
                    upper=snap.upper if snap.upper is not None else snap.rating,
                    matches=snap.matches,
                )
                for snap in snapshots
            ),
            key=_standing_order,
        )
    return tournament


def _standing_order(line: LeaderRow) -> tuple[int, float, str]:
    """Rank, then rating (higher first), then agent: the order standings are published in."""
    return (line.rank, -line.rating, line.agent)


def _stored_outcomes(session: Session, tournament_id: uuid.UUID, scenario: str) -> list[Outcome]:
    """The outcomes of a tournament's finished matches, in the order they were queued."""
    seats: dict[uuid.UUID, list[MatchResultRow]] = {}
    for result in session.scalars(
        select(MatchResultRow)
        .join(MatchRow, MatchRow.id == MatchResultRow.match_id)
        .where(MatchRow.tournament_id == tournament_id, MatchRow.status == MatchStatus.FINISHED)
        .order_by(MatchRow.created_at, MatchRow.id, MatchResultRow.seat)
    ):
        seats.setdefault(result.match_id, []).append(result)
    return [outcome_of(match, scenario) for match in seats.values()]


def _is_folder(ref: str) -> bool:
    return not ref.startswith((BUILTIN_PREFIX, REGISTRY_PREFIX))


@contextmanager
def _folder(data_dir: Path | None) -> Iterator[Path]:
    """``data_dir`` (created when missing), or a temporary folder removed afterwards."""
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        yield data_dir
        return
    with tempfile.TemporaryDirectory(prefix="devspark-tournament-") as scratch:
        yield Path(scratch)


def _play(
    factory: sessionmaker[Session],
    tournament_id: uuid.UUID,
    playback: Playback,
    workers: int | None,
    planned: int | None,
    progress: Progress | None,
) -> str:
    """Play the started tournament to its end on a fresh executor; its final status."""
    done = 0
    if progress is not None:
        progress(done, planned)

    def played(_: Played) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, planned)

    executor = make_executor(workers=workers)
    try:
        return run_tournament_durably(factory, tournament_id, executor, playback, on_played=played)
    finally:
        executor.close()


def _create_and_start(
    session: Session, *, scenario: str, format: str, params: TournamentParams, seed: int
) -> uuid.UUID:
    """Create the tournament as the local user and start it (two use cases, two commits)."""
    owner = _local_user(session)
    audit = AuditContext(actor=owner, actor_kind="user")
    row = create_tournament(
        session,
        owner_id=owner.id,
        scenario=scenario,
        format=format,
        agents=params.agents,
        params=params,
        seed=seed,
        audit=audit,
    )
    start_tournament(session, row.id, audit)
    return row.id


def _local_user(session: Session) -> UserRow:
    """The :data:`LOCAL_USER` account, created (audited as the system) when missing."""
    try:
        return find_user(session, LOCAL_USER)
    except NotFoundError:
        detail = {"via": "devspark tournament run"}
        return create_user(session, LOCAL_USER, "user", audit=SYSTEM, detail=detail).user


def _enter_folders(
    session: Session, artifacts: ArtifactStore, root: Path, folders: Sequence[str]
) -> dict[str, str]:
    """Publish and start each folder as a local agent; folder -> pinned reference."""
    if not folders:
        return {}
    owner = _local_user(session)
    audit = AuditContext(actor=owner, actor_kind="user")
    registry = AgentRegistry(
        session, artifacts, root / "work" / "registry", agents_dir=root / "work" / "agents"
    )
    entered: dict[str, str] = {}
    for ref in folders:
        folder = Path(ref).expanduser()
        if not (folder / "agent.toml").is_file():
            raise NotFoundError(
                f"agent {ref!r}: no agent folder there (a folder with agent.toml, or builtin:NAME)"
            )
        version = _published(session, owner, folder) or registry.publish(
            owner, _pack(folder), "agent.tar.gz", audit=audit
        )
        if version.lifecycle_state not in PLAYABLE_STATES:
            version = registry.start(owner, version.id, audit=audit)
        agent = session.get(AgentRow, version.agent_id)
        assert agent is not None  # a version's agent row outlives it
        entered[ref] = f"{REGISTRY_PREFIX}{owner.username}/{agent.name}@{version.version}"
    return entered


def _published(session: Session, owner: UserRow, folder: Path) -> AgentVersionRow | None:
    """A version of ``owner``'s with exactly this folder's content, if one is published."""
    return session.scalar(
        select(AgentVersionRow)
        .join(AgentRow, AgentRow.id == AgentVersionRow.agent_id)
        .where(
            AgentRow.owner_id == owner.id,
            AgentRow.deleted_at.is_(None),
            AgentVersionRow.sha256 == content_hash(folder),
            AgentVersionRow.deprecated.is_(False),
        )
        .limit(1)
    )


def _pack(folder: Path) -> bytes:
    """The agent's files (:func:`~devspark.core.packaging.package_files`) as .tar.gz bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in package_files(folder):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


__all__ = ["LOCAL_USER", "LocalTournament", "Progress", "play_local_tournament", "read_tournament"]
