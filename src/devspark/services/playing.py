"""Playing one persisted match: its spec, its stored result, a match of its own.

A match is a :class:`~devspark.store.models.MatchRow`; a tournament's matches are
driven by :mod:`devspark.services.durable`, a match of its own (created by
:func:`devspark.services.matches.create_match`, played by :func:`run_match_durably`)
is a ``MatchRow`` without a tournament, stored the same way: it is committed
``queued`` before it runs and ``running`` while it plays, and a restarted server plays
it again if it never finished. A match that cannot be played or
stored ends ``failed`` with its reason (see :mod:`devspark.services.failures`).

With :class:`Playback` the runner stages uploaded agents
(:class:`~devspark.services.entrants.AgentStager`) and records every match's replay
into the artifact store (``MatchRow.replay_ref``), and each seat of an uploaded version
is linked to it (``MatchResultRow.agent_version_id``, ``matches_played``).
"""

from __future__ import annotations

import gzip
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, update
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import Executor
from devspark.arena.match import MatchSpec
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from devspark.core.results import MatchResult
from devspark.core.status import MatchStatus
from devspark.rating.outcomes import Outcome
from devspark.sandbox import IsolationLevel
from devspark.scenarios import ScenarioCore, resolve
from devspark.scenarios.options import check_options
from devspark.services.boards import Seat, count_stored
from devspark.services.entrants import AgentStager, is_uploaded, version_ids
from devspark.services.failures import PlayInterrupted, describe, fail_tournament
from devspark.services.queue import WorkerIdentity, claim_match, register_worker, retire_worker
from devspark.store.artifacts import ArtifactStore
from devspark.store.models import (
    AgentVersionRow,
    MatchResultRow,
    MatchRow,
    ScenarioRow,
    utcnow,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Playback:
    """What the runner needs beyond an executor: staged agents and replay storage.

    Attributes:
        stager: Unpacks uploaded agents; without one only built-in agents can play.
        replays: Where replays go (kind ``"replay"``, gzip JSON); ``None`` records none.
        on_stored: Called with each match row and its result once both are committed
            (live ``match_finished`` events); its errors are not the match's.

    """

    stager: AgentStager | None = None
    replays: ArtifactStore | None = None
    on_stored: Callable[[MatchRow, MatchResult], None] | None = None


NO_PLAYBACK = Playback()
"""Built-in agents only, no replays (the library's and the tests' default)."""


def ensure_scenario(session: Session, scenario_id: str) -> None:
    """Add the scenario's row when the database does not know it yet (flushes)."""
    cls = resolve(scenario_id)
    if session.get(ScenarioRow, cls.full_id) is None:
        session.add(
            ScenarioRow(
                id=cls.full_id,
                name=cls.scenario_id,
                version=cls.version,
                domains=list(cls.domains),
                players_min=cls.players[0],
                players_max=cls.players[1],
                difficulties=[str(d) for d in cls.difficulties],
            )
        )
        session.flush()  # rows that reference it may be inserted first otherwise


def scenario_for_work(scenario: str) -> type[ScenarioCore]:
    """The scenario class new work names; unknown is a bad argument, not a missing thing.

    Raises:
        InvalidArgumentError: No scenario has that id (the message suggests near ones).

    """
    try:
        return resolve(scenario)
    except NotFoundError as exc:
        raise InvalidArgumentError(f"scenario={scenario!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Played:
    """How playing a claimed match ended.

    Attributes:
        match_id: The match.
        tournament_id: Its tournament (``None`` for a match of its own).
        result: The stored result; ``None`` when it failed or its claim was lost.
        error: Why it failed (stored in ``MatchRow.error``); ``None`` otherwise.

    """

    match_id: uuid.UUID
    tournament_id: uuid.UUID | None
    result: MatchResult | None = None
    error: str | None = None

    @property
    def lost(self) -> bool:
        """The worker's claim ran out before it stored the match (another plays it)."""
        return self.result is None and self.error is None


def play_claimed(
    session_factory: sessionmaker[Session],
    match_id: uuid.UUID,
    worker_id: uuid.UUID,
    executor: Executor,
    playback: Playback = NO_PLAYBACK,
) -> Played:
    """Play a match ``worker_id`` claimed and store its result (commits).

    The result, its replay and the ``finished`` mark are stored in one transaction, and
    only while the match is still this worker's: a worker whose lease ran out (the
    match was queued again for another) stores nothing. A match that cannot be played
    or stored ends ``failed`` with the reason, and so does its tournament.

    Raises:
        PlayInterrupted: The executor would not start it now, or this worker cannot
            stage its agents: it is queued again for another try.

    """
    with session_factory() as session:
        row = session.get(MatchRow, match_id)
        if row is None or row.status != MatchStatus.RUNNING or row.worker_id != worker_id:
            return Played(match_id, None if row is None else row.tournament_id)
        tournament_id = row.tournament_id
        try:
            spec = match_spec(session, row, playback)
            result = next(iter(executor.map([spec])))
        except PlayInterrupted:
            release(session, match_id, worker_id)
            raise
        except Exception as exc:
            return _failed(session, row, worker_id, describe(exc))
        except BaseException:
            release(session, match_id, worker_id)
            raise
        try:
            stored = store_result(session, row, result, playback, worker_id=worker_id)
        except Exception as exc:
            reason = f"its result could not be stored: {describe(exc)}"
            return _failed(session, row, worker_id, reason)
        return Played(match_id, tournament_id, result if stored else None)


def _failed(session: Session, row: MatchRow, worker_id: uuid.UUID, reason: str) -> Played:
    """End a claimed match ``failed`` (and its tournament, naming the match)."""
    session.rollback()  # whatever the attempt left half-written goes
    match_id, tournament_id = row.id, row.tournament_id
    marked = session.execute(
        update(MatchRow)
        .where(
            MatchRow.id == match_id,
            MatchRow.status == MatchStatus.RUNNING,
            MatchRow.worker_id == worker_id,
        )
        .values(status=MatchStatus.FAILED, error=reason, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if getattr(marked, "rowcount", 1) != 1:
        return Played(match_id, tournament_id)  # no longer ours: nothing to say
    logger.error("match %s failed: %s", match_id, reason)
    if tournament_id is not None:
        label = row.options["pairing"].get("label", "")
        fail_tournament(session, tournament_id, f"match {match_id} ({label}) failed: {reason}")
    return Played(match_id, tournament_id, error=reason)


def release(session: Session, match_id: uuid.UUID, worker_id: uuid.UUID) -> None:
    """Give a claimed match back to the queue, dropping what its attempt left (commits)."""
    session.rollback()
    session.execute(
        update(MatchRow)
        .where(
            MatchRow.id == match_id,
            MatchRow.status == MatchStatus.RUNNING,
            MatchRow.worker_id == worker_id,
        )
        .values(status=MatchStatus.QUEUED, started_at=None, worker_id=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def run_match_durably(
    session_factory: sessionmaker[Session],
    match_id: uuid.UUID,
    executor: Executor,
    playback: Playback = NO_PLAYBACK,
) -> Played:
    """Play one queued match of its own in this thread, as a worker would (commits).

    The match is claimed for a worker registered for the purpose, played and stored with
    :func:`play_claimed`, and the worker retired. A match that is not queued (it ended,
    or another worker holds it) is left alone.

    Raises:
        NotFoundError: No such match.
        PlayInterrupted: The executor would not start it now (it stays queued).

    """
    with session_factory() as session:
        row = session.get(MatchRow, match_id)
        if row is None:
            raise NotFoundError(f"match {match_id} does not exist")
        tournament_id = row.tournament_id
        worker_id = register_worker(session, WorkerIdentity.here("match"))
        claim = claim_match(session, worker_id, match_id=match_id)
    played = Played(match_id, tournament_id)
    try:
        if claim is not None:
            played = play_claimed(session_factory, match_id, worker_id, executor, playback)
    finally:
        with session_factory() as session:
            retire_worker(session, worker_id, played=0 if played.result is None else 1)
    return played


class CannotStageError(FailedPreconditionError, PlayInterrupted):
    """This runner has no stager for an uploaded agent: the work waits for one that has."""


def match_spec(session: Session, row: MatchRow, playback: Playback = NO_PLAYBACK) -> MatchSpec:
    """The match spec of a persisted row, uploaded agents staged.

    Its reset options are checked again (:func:`~devspark.scenarios.options.check_options`):
    a row may have been stored before they were checked, and an executor that keeps its
    scenario warm between matches does not check them.

    Raises:
        CannotStageError: An uploaded agent but no stager to unpack it (the match
            stays queued: it is this runner that cannot play it).
        NotFoundError: An uploaded version or its archive no longer exists, or an
            unknown scenario.
        InvalidArgumentError: Options the scenario refuses (naming the option).

    """
    options = check_options(resolve(row.scenario_id), row.options.get("reset"))
    agents = tuple(row.options["pairing"]["agents"])
    sources: tuple[str, ...] = ()
    if any(is_uploaded(ref) for ref in agents):
        if playback.stager is None:
            raise CannotStageError(
                f"match {row.id} seats uploaded agents but this runner cannot stage them"
            )
        sources = playback.stager.sources(session, agents)
    return MatchSpec(
        row.scenario_id,
        agents,
        seed=row.seed,
        options=options,
        isolation=IsolationLevel(row.isolation),
        sources=sources,
        record=playback.replays is not None,
    )


def outcome_of(results: Sequence[MatchResultRow], scenario: str) -> Outcome:
    """The outcome a finished match stored, from its seats' result rows (seat order)."""
    return Outcome(
        agents=tuple(seat.agent_ref for seat in results),
        scores=tuple(seat.reward for seat in results),
        scenario=scenario,
        cpu_s=tuple(seat.cpu_s for seat in results),
        moves=tuple(seat.moves for seat in results),
        statuses=tuple(seat.status for seat in results),
    )


def store_result(
    session: Session,
    row: MatchRow,
    result: MatchResult,
    playback: Playback = NO_PLAYBACK,
    *,
    worker_id: uuid.UUID | None = None,
) -> bool:
    """Store a match's result rows and replay, count it on the boards, mark it finished.

    With ``worker_id`` the match is marked only while it is still that worker's claim.

    Returns:
        Whether it was stored (``False``: the claim was lost; nothing was kept).

    """
    versions = version_ids(session, [record.agent for record in result.agents])
    session.execute(  # one statement for every seat (ORM bulk insert)
        insert(MatchResultRow),
        [
            {
                "match_id": row.id,
                "seat": seat,
                "agent_ref": record.agent,
                "agent_version_id": versions.get(record.agent),
                "role": record.role,
                "status": str(record.status),
                "reward": record.reward,
                "moves": record.moves,
                "wall_ms": record.wall_ms,
                "cpu_s": record.cpu_s,
                "peak_mb": record.peak_mb,
                "detail": record.detail,
            }
            for seat, record in enumerate(result.agents)
        ],
    )
    if versions:  # in SQL: sessions that cached the count never write a stale one back
        session.execute(
            update(AgentVersionRow)
            .where(AgentVersionRow.id.in_(set(versions.values())))
            .values(matches_played=AgentVersionRow.matches_played + 1)
            .execution_options(synchronize_session=False)
        )
    replay_ref: str | None = None
    if playback.replays is not None and result.replay is not None:
        document = json.dumps(result.replay, separators=(",", ":"), allow_nan=False)
        data = gzip.compress(document.encode(), compresslevel=6, mtime=0)
        replay_ref = str(playback.replays.put_bytes(data, "replay"))
    finished_at = utcnow()
    mine = [MatchRow.id == row.id, MatchRow.status == MatchStatus.RUNNING]
    if worker_id is not None:
        mine.append(MatchRow.worker_id == worker_id)
    marked = session.execute(
        update(MatchRow)
        .where(*mine)
        .values(
            status=MatchStatus.FINISHED,
            error=None,
            finished_at=finished_at,
            steps=result.steps,
            wall_ms=result.wall_ms,
            replay_ref=replay_ref,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(marked, "rowcount", 1) != 1:
        session.rollback()  # no longer ours (or no longer running): keep nothing
        logger.warning("match %s was not stored: its claim was lost", row.id)
        return False
    seats = [
        Seat(record.agent, record.reward, str(record.status), record.cpu_s, record.moves)
        for record in result.agents
    ]
    count_stored(session, row.id, row.scenario_id, finished_at, seats)
    session.commit()
    if playback.on_stored is not None:
        session.refresh(row)  # the listener reads the stored row
        try:
            playback.on_stored(row, result)
        except Exception:  # a listener's failure is not the match's
            logger.exception("on_stored failed for match %s", row.id)
    return True


__all__ = [
    "NO_PLAYBACK",
    "CannotStageError",
    "Playback",
    "Played",
    "ensure_scenario",
    "match_spec",
    "outcome_of",
    "play_claimed",
    "release",
    "run_match_durably",
    "scenario_for_work",
    "store_result",
]
