"""Durable tournaments: persisted before they run, resumable after a crash or a kill.

A tournament is a :class:`~devspark.store.models.TournamentRow` whose ``params`` hold
everything needed to rebuild its format (:func:`create_tournament`). The runner
(:func:`run_tournament_durably`) rebuilds the format from those params and drives it
batch by batch. For every pairing the format issues it looks for a
:class:`~devspark.store.models.MatchRow` of the tournament with the same round, seats and
seed:

* a *finished* row: its stored outcome (from its
  :class:`~devspark.store.models.MatchResultRow` s) is recorded into the format without
  playing: this is how a restarted runner replays what happened before the kill;
* otherwise the row is created ``queued`` (or a ``queued``/``running`` leftover of a
  killed runner is reused), marked ``running`` and committed *before* the match is
  played; the result rows and the ``finished`` mark are committed in one transaction.

Formats are deterministic given their seed and the recorded outcomes, so a restarted
runner sees the same pairings with the same seeds: a finished match is never played
again and a match left ``running`` (it never finished) is simply played again. Outcomes
are recorded in pairing order, as :func:`devspark.arena.tournament.run_tournament`
does, so the final standings equal those of an uninterrupted in-memory run.

The pairing's place in the format is kept in ``MatchRow.options`` (there are no columns
for it): ``{"reset": <scenario reset options>, "pairing": {"round": int, "label": str,
"agents": [seat order]}}``.

A match that cannot be played or stored ends ``failed`` with its reason, and so does
its tournament (:mod:`devspark.services.failures`); a restarted runner does not play
either again.

Playing one match (its spec, its stored result and replay, :class:`Playback`) and a
match of its own (:func:`create_match`, :func:`run_match_durably`) live in
:mod:`devspark.services.playing`; they are re-exported here.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from devspark.arena.executors import Executor
from devspark.arena.formats import (
    Pairing,
    TournamentFormat,
)
from devspark.arena.match import MatchSpec
from devspark.arena.tournament import planned_matches
from devspark.core.results import MatchResult
from devspark.rating.leaderboard import LeaderRow, build_leaderboards
from devspark.rating.models import OpenSkillRatings
from devspark.rating.outcomes import Outcome
from devspark.scenarios import resolve
from devspark.services.failures import PlayInterrupted, describe, fail_match, fail_tournament
from devspark.services.playing import (
    NO_PLAYBACK,
    CannotStageError,
    Playback,
    create_match,
    match_spec,
    requeue,
    run_match_durably,
    store_result,
)
from devspark.services.tournaments import (
    TournamentParams,
    build,
    cancel,
    create_tournament,
    end_queued,
    get_tournament,
    planned_of,
)
from devspark.store.models import (
    MatchResultRow,
    MatchRow,
    RatingSnapshotRow,
    TournamentRow,
    utcnow,
)

logger = logging.getLogger(__name__)

RATING_METHOD = "bradley_terry"
"""The method recorded on the rating snapshots of a finished tournament."""

MatchKey = tuple[int, tuple[str, ...], int]
"""A pairing's identity inside its tournament: (round, agents in seat order, seed)."""


def run_tournament_durably(
    session_factory: sessionmaker[Session],
    tournament_id: uuid.UUID,
    executor: Executor,
    playback: Playback = NO_PLAYBACK,
    *,
    max_matches: int | None = None,
) -> str:
    """Play (or resume) a persisted tournament, committing every match.

    Safe to call again after the process running it was killed: finished matches are
    replayed from the database, unfinished ones are played. Returns at once for a
    finished or cancelled tournament, and stops before the next match once
    :func:`cancel` was called.

    Args:
        session_factory: Sessions on the tournament's database.
        tournament_id: The tournament.
        executor: Plays the matches.
        playback: Agent staging and replay storage.
        max_matches: Return after playing this many matches (a slice, so that other
            work can run in between; call again to go on); ``None`` plays to the end.

    Returns:
        The tournament's status afterwards: ``"finished"``, ``"cancelled"``,
        ``"failed"`` (a match could not be played or stored; the reason is in
        ``TournamentRow.error``), or ``"running"`` when the slice ended first.

    Raises:
        NotFoundError: No such tournament.
        PlayInterrupted: The executor would not start a match (it stays queued).

    """
    tournament = DurableTournament(session_factory, tournament_id, executor, playback)
    try:
        return tournament.advance(max_matches)
    finally:
        tournament.close()


class DurableTournament:
    """A persisted tournament being played, slice after slice, without replaying.

    Building one replays the finished matches from the database into the format (what a
    restart costs per finished match: ``benchmarks/durable_slices.py`` prints it); after
    that each :meth:`advance`
    goes on from where the last one stopped, however many matches were played before.
    The server's runner keeps one per tournament it is playing; it holds a session of
    its own until :meth:`close`.

    Args:
        session_factory: Sessions on the tournament's database.
        tournament_id: The tournament.
        executor: Plays the matches (:attr:`executor` may be replaced between slices).
        playback: Agent staging and replay storage.

    Raises:
        NotFoundError: No such tournament.

    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        tournament_id: uuid.UUID,
        executor: Executor,
        playback: Playback = NO_PLAYBACK,
    ) -> None:
        self.tournament_id = tournament_id
        self.session = session_factory()
        self._round: list[Pairing] | None = None
        self._outcomes: list[Outcome] = []
        self._runner: _Runner | None = None
        self._fmt: TournamentFormat | None = None
        try:
            row = get_tournament(self.session, tournament_id)
            self.status = row.status
            if row.status in ("finished", "cancelled", "failed"):
                return
            if row.status == "created":
                row.status = self.status = "running"
                row.started_at = utcnow()
            params = TournamentParams.from_json(row.params)
            ratings = OpenSkillRatings()
            self._fmt = build(row.format, params, row.seed, ratings)
            self._runner = _Runner(self.session, row, params, executor, ratings, playback)
            self._runner.requeue_running()
            self.session.commit()
        except BaseException:
            self.session.close()
            raise

    @property
    def executor(self) -> Executor | None:
        """The executor the next matches are played with."""
        return None if self._runner is None else self._runner.executor

    @executor.setter
    def executor(self, executor: Executor) -> None:
        if self._runner is not None:
            self._runner.executor = executor

    def advance(self, max_matches: int | None = None) -> str:
        """Play on, at most ``max_matches`` new matches (``None``: to the end).

        Returns:
            ``"finished"``, ``"cancelled"``, ``"failed"`` (a match could not be played
            or stored: it and the tournament ended ``failed`` with the reason), or
            ``"running"`` when the slice ended first.

        Raises:
            PlayInterrupted: The executor would not start the next match (it stays
                queued; call again later).

        """
        runner, fmt = self._runner, self._fmt
        if runner is None or fmt is None or self.status != "running":
            return self.status
        runner.budget = max_matches
        while True:
            if self._round is None:
                if fmt.done:
                    break
                pairings = [p for p in fmt.next_round() if len(p.agents) >= 2]
                if not pairings:
                    break
                self._round = pairings
            try:
                batch = runner.play_batch(self._round)
            except TournamentFailed:
                self.status = "failed"
                return self.status
            if batch is None:  # cancelled, or the slice is over mid-round
                self.status = "cancelled" if runner.cancelled() else "running"
                return self.status
            for pairing, outcome in zip(self._round, batch, strict=True):
                fmt.record(pairing, outcome)
                runner.ratings.update(outcome)
                self._outcomes.append(outcome)
            self._round = None
        self.status = "finished" if runner.finish(self._outcomes) else "cancelled"
        return self.status

    def close(self) -> None:
        """Release the session."""
        self.session.close()


class TournamentFailed(Exception):  # noqa: N818  # carried to advance, never out of it
    """A match could not be played or stored; the tournament has ended ``failed``."""


class _Runner:
    """The database side of a :class:`DurableTournament`: rows, results, commits."""

    def __init__(
        self,
        session: Session,
        tournament: TournamentRow,
        params: TournamentParams,
        executor: Executor,
        ratings: OpenSkillRatings,
        playback: Playback,
    ) -> None:
        self.session = session
        self.playback = playback
        self.budget: int | None = None
        """Matches this slice may still play; ``None``: no limit."""
        self.tournament = tournament
        self.tournament_id = tournament.id
        self.params = params
        self.executor = executor
        self.ratings = ratings
        rows = session.scalars(select(MatchRow).where(MatchRow.tournament_id == tournament.id))
        self.rows: dict[MatchKey, MatchRow] = {_row_key(r): r for r in rows}
        # Every stored result in one query: a resumed pass replays them all.
        self.results: dict[uuid.UUID, list[MatchResultRow]] = {}
        for result in session.scalars(
            select(MatchResultRow)
            .join(MatchRow, MatchRow.id == MatchResultRow.match_id)
            .where(MatchRow.tournament_id == tournament.id)
            .order_by(MatchResultRow.match_id, MatchResultRow.seat)
        ):
            self.results.setdefault(result.match_id, []).append(result)

    def requeue_running(self) -> None:
        """Put matches a killed runner left ``running`` back in the queue."""
        for row in self.rows.values():
            if row.status == "running":
                row.status = "queued"
                row.started_at = None

    def play_batch(self, pairings: list[Pairing]) -> list[Outcome] | None:
        """The batch's outcomes: stored ones replayed, the others played and committed."""
        found: dict[int, Outcome] = {}
        pending: list[tuple[int, MatchRow]] = []
        for index, pairing in enumerate(pairings):
            row = self.rows.get(_pairing_key(pairing))
            if row is not None and row.status == "finished":
                found[index] = self.stored_outcome(row)
            else:
                pending.append((index, self.queue(pairing, row)))
        self.session.commit()
        if pending and self.cancelled():
            self.stop_cancelled()
            return None
        for index, row in pending:
            if self.budget is not None and self.budget <= 0:
                return None  # the slice is over; the queued rows wait for the next pass
            if not self.mark_running(row):
                self.stop_cancelled()  # cancelled just now: the cancel wins
                return None
            result = self.play(row)
            if self.budget is not None:
                self.budget -= 1
            found[index] = Outcome.from_result(result)
            if self.cancelled():
                self.stop_cancelled()
                return None
        return [found[index] for index in range(len(pairings))]

    def queue(self, pairing: Pairing, row: MatchRow | None) -> MatchRow:
        """The pairing's row, created ``queued`` when it has none yet (not committed)."""
        if row is None:
            row = MatchRow(
                scenario_id=self.tournament.scenario_id,
                seed=pairing.seed,
                options={
                    "reset": dict(self.params.options or {}),
                    "pairing": {
                        "round": pairing.round,
                        "label": pairing.label,
                        "agents": list(pairing.agents),
                    },
                },
                isolation=self.params.isolation.value,
                status="queued",
                tournament_id=self.tournament_id,
            )
            self.session.add(row)
            self.rows[_pairing_key(pairing)] = row
        return row

    def stop_cancelled(self) -> None:
        """End the rows this pass queued after the cancel was committed (commits)."""
        end_queued(self.session, self.tournament_id)
        self.session.commit()
        for row in self.rows.values():  # the in-memory rows are stale now
            self.session.expire(row)

    def mark_running(self, row: MatchRow) -> bool:
        """Commit ``running`` before the match is played, unless the tournament is cancelled.

        One statement both checks the tournament and marks the match, holding a share
        lock on the tournament's row on PostgreSQL (SQLite serialises writers), so it is
        ordered against a concurrent cancel: no match starts after a cancel is
        acknowledged.

        Returns:
            ``False`` (and the match left queued) when the tournament was cancelled.

        """
        status = (
            select(TournamentRow.status)
            .where(TournamentRow.id == self.tournament_id)
            .with_for_update(read=True)
            .scalar_subquery()
        )
        marked = cast(
            "CursorResult[Any]",
            self.session.execute(
                update(MatchRow)
                .where(MatchRow.id == row.id, status != "cancelled")
                .values(status="running", started_at=utcnow(), error=None)
                .execution_options(synchronize_session=False)
            ),
        )
        self.session.commit()
        if marked.rowcount != 1:
            return False
        self.session.refresh(row)  # sessions keep objects across commits: reload it
        return True

    def play(self, row: MatchRow) -> MatchResult:
        """Play a match marked running and store its result.

        Raises:
            PlayInterrupted: The executor would not start it (it is queued again).
            TournamentFailed: It could not be played or stored; it and the tournament
                are ``failed`` with the reason (committed).

        """
        try:
            result = next(iter(self.executor.map([self.spec(row)])))
        except PlayInterrupted:
            requeue(self.session, row)
            raise
        except Exception as exc:
            raise self.failed(row, describe(exc)) from exc
        try:
            self.store_result(row, result)
        except Exception as exc:
            raise self.failed(row, f"its result could not be stored: {describe(exc)}") from exc
        return result

    def failed(self, row: MatchRow, reason: str) -> TournamentFailed:
        """End ``row`` and the tournament ``failed`` with ``reason`` (commits)."""
        fail_match(self.session, row, reason)
        label = row.options["pairing"].get("label", "")
        whole = f"match {row.id} ({label}) failed: {reason}"
        logger.error("tournament %s failed: %s", self.tournament_id, whole)
        fail_tournament(self.session, self.tournament_id, whole)
        self.session.refresh(self.tournament)
        return TournamentFailed(whole)

    def spec(self, row: MatchRow) -> MatchSpec:
        """The match spec of a persisted row."""
        return match_spec(self.session, row, self.playback)

    def store_result(self, row: MatchRow, result: MatchResult) -> None:
        """Store the result rows and mark the match finished, in one transaction."""
        store_result(self.session, row, result, self.playback)

    def stored_outcome(self, row: MatchRow) -> Outcome:
        """The outcome of a finished match, read back from its result rows."""
        results = self.results.get(row.id)
        if results is None:  # finished after this pass loaded the results
            results = list(
                self.session.scalars(
                    select(MatchResultRow)
                    .where(MatchResultRow.match_id == row.id)
                    .order_by(MatchResultRow.seat)
                )
            )
        return Outcome(
            agents=tuple(r.agent_ref for r in results),
            scores=tuple(r.reward for r in results),
            scenario=row.scenario_id,
            cpu_s=tuple(r.cpu_s for r in results),
            moves=tuple(r.moves for r in results),
            statuses=tuple(r.status for r in results),
        )

    def cancelled(self) -> bool:
        """Whether the tournament was cancelled (read fresh from the database)."""
        status = self.session.scalar(
            select(TournamentRow.status).where(TournamentRow.id == self.tournament_id)
        )
        self.session.commit()  # end the read transaction; the next read sees new commits
        return status == "cancelled"

    def finish(self, outcomes: list[Outcome]) -> bool:
        """Store the final standings and mark the tournament finished (one transaction).

        Returns:
            ``False`` (and nothing stored) when it was cancelled in the meantime.

        """
        cls = resolve(self.tournament.scenario_id)
        standings: list[LeaderRow] = []
        if outcomes:
            boards = build_leaderboards(
                outcomes,
                {cls.full_id: tuple(cls.domains)},
                bootstrap=self.params.bootstrap,
                seed=self.tournament.seed,
            )
            standings = boards.by_scenario[cls.full_id]
        taken_at = utcnow()
        for line in standings:
            self.session.add(
                RatingSnapshotRow(
                    tournament_id=self.tournament_id,
                    scenario_id=self.tournament.scenario_id,
                    agent_ref=line.agent,
                    method=RATING_METHOD,
                    rating=line.rating,
                    lower=line.lower,
                    upper=line.upper,
                    rank=line.rank,
                    matches=line.matches,
                    taken_at=taken_at,
                )
            )
        # Finished only if still running: a cancel that came during the fit wins.
        marked = self.session.execute(
            update(TournamentRow)
            .where(TournamentRow.id == self.tournament_id, TournamentRow.status == "running")
            .values(status="finished", finished_at=taken_at)
            .execution_options(synchronize_session=False)
        )
        if getattr(marked, "rowcount", 1) != 1:
            self.session.rollback()  # no standings for a cancelled tournament
            return False
        self.session.commit()
        self.tournament.status, self.tournament.finished_at = "finished", taken_at
        return True


def _pairing_key(pairing: Pairing) -> MatchKey:
    return (pairing.round, tuple(pairing.agents), pairing.seed)


def _row_key(row: MatchRow) -> MatchKey:
    pairing = row.options["pairing"]
    return (int(pairing["round"]), tuple(pairing["agents"]), row.seed)


__all__ = [
    "NO_PLAYBACK",
    "RATING_METHOD",
    "CannotStageError",
    "DurableTournament",
    "Playback",
    "TournamentFailed",
    "TournamentParams",
    "cancel",
    "create_match",
    "create_tournament",
    "end_queued",
    "match_spec",
    "planned_matches",
    "planned_of",
    "run_match_durably",
    "run_tournament_durably",
    "store_result",
]
