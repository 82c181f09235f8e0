"""Platform boards from aggregates: counted at store, refitted by the keeper, read at once."""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from devspark.core.results import AgentResult, AgentStatus, MatchResult
from devspark.rating.leaderboard import build_leaderboards
from devspark.services.board_keeper import HISTORY_KEPT, BoardKeeper
from devspark.services.boards import head_to_head, read_boards
from devspark.services.leaderboards import domains_of, finished_outcomes
from devspark.services.playing import store_result
from devspark.services.seed import seed_if_empty
from devspark.store.db import session_factory
from devspark.store.models import (
    BoardHistoryRow,
    BoardInboxRow,
    BoardPairRow,
    BoardRecordRow,
    MatchRow,
    PlatformBoardRow,
)

SCENARIOS = ("tictactoe-v1", "connect_four-v1")


@pytest.fixture
def factory(migrated: Engine) -> sessionmaker[Session]:
    made = session_factory(migrated)
    with made() as session:
        seed_if_empty(session)  # the scenarios
    return made


def _store(
    factory: sessionmaker[Session],
    scenario: str,
    agents: Sequence[str],
    rewards: Sequence[float],
    statuses: Sequence[str] | None = None,
) -> uuid.UUID:
    """Store a finished match the way a worker does (a running row, then store_result)."""
    with factory() as session:
        row = MatchRow(scenario_id=scenario, status="running")
        session.add(row)
        session.commit()
        result = MatchResult(
            scenario=scenario,
            seed=0,
            agents=[
                AgentResult(
                    agent=agent,
                    role=f"p{seat}",
                    status=AgentStatus(statuses[seat]) if statuses else AgentStatus.OK,
                    reward=reward,
                    moves=3 + seat,
                    cpu_s=0.01 * (seat + 1),
                )
                for seat, (agent, reward) in enumerate(zip(agents, rewards, strict=True))
            ],
        )
        assert store_result(session, row, result)
        return row.id


def _population(factory: sessionmaker[Session], matches: int, seed: int = 1) -> None:
    """Matches among five agents of different strength, in two scenarios, some 3-player."""
    rng = random.Random(seed)
    strength = {f"builtin:a{i}": i * 0.6 for i in range(5)}
    names = list(strength)
    for n in range(matches):
        seats = rng.sample(names, 3 if n % 7 == 0 else 2)
        rewards = [strength[a] + rng.gauss(0, 1.0) for a in seats]
        if n % 11 == 0:
            rewards = [1.0] * len(seats)  # a draw
        _store(factory, SCENARIOS[n % 2], seats, [round(r, 1) for r in rewards])


def _boards(keeper: BoardKeeper, factory: sessionmaker[Session], method: str) -> dict[str, object]:
    with factory() as session:
        data: dict[str, object] = json.loads(keeper.read(session, method))
        return data


def test_before_any_match_the_boards_are_empty_and_a_read_does_not_fit(
    factory: sessionmaker[Session],
) -> None:
    keeper = BoardKeeper(factory)
    with factory() as session:
        empty = json.loads(keeper.read(session, "bradley_terry"))
        assert empty["global"] == [] and empty["matches"] == 0 and empty["built_at"] is None
        assert json.loads(read_boards(session, "openskill"))["method"] == "openskill"
    assert keeper.last is None  # reading never ran a refresh


def test_storing_a_match_counts_its_pairs_and_leaves_it_in_the_inbox(
    factory: sessionmaker[Session],
) -> None:
    _store(factory, "tictactoe-v1", ["builtin:b", "builtin:a"], [1.0, -1.0])
    _store(factory, "tictactoe-v1", ["builtin:a", "builtin:c", "builtin:b"], [0.0, 0.0, 2.0])
    with factory() as session:
        pairs = {
            (p.board, p.agent_a, p.agent_b): (p.wins, p.losses, p.draws)
            for p in session.scalars(select(BoardPairRow))
        }
        assert session.scalar(select(func.count()).select_from(BoardInboxRow)) == 2
    assert pairs[("global", "builtin:a", "builtin:b")] == (0, 2, 0)  # b beat a twice
    assert pairs[("global", "builtin:a", "builtin:c")] == (0, 0, 1)  # equal rewards draw
    assert pairs[("scenario:tictactoe-v1", "builtin:b", "builtin:c")] == (1, 0, 0)
    assert ("domain:game", "builtin:a", "builtin:b") in pairs


def test_self_play_is_stored_but_not_counted(factory: sessionmaker[Session]) -> None:
    _store(factory, "tictactoe-v1", ["builtin:random", "builtin:random"], [1.0, -1.0])
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(BoardPairRow)) == 0
        assert session.scalar(select(func.count()).select_from(BoardInboxRow)) == 0


@pytest.mark.parametrize("method", ["bradley_terry", "openskill"])
def test_the_boards_agree_with_a_fit_over_every_stored_match(
    factory: sessionmaker[Session], method: str
) -> None:
    _population(factory, 120)
    keeper = BoardKeeper(factory, bootstrap=200)
    stats = keeper.refresh()
    assert stats.leader and stats.matches_applied == 120 and stats.rated == 120
    ours = _boards(keeper, factory, method)
    with factory() as session:
        outcomes = finished_outcomes(session)
    today = build_leaderboards(
        outcomes, domains_of(outcomes), method=method, bootstrap=200
    ).to_json()
    assert ours["matches"] == 120
    assert set(ours["by_scenario"]) == set(today["by_scenario"]) == set(SCENARIOS)  # type: ignore[arg-type]
    assert set(ours["by_domain"]) == set(today["by_domain"])  # type: ignore[arg-type]
    boards = [("global", ours["global"], today["global"])]
    boards += [(k, ours["by_scenario"][k], today["by_scenario"][k]) for k in SCENARIOS]  # type: ignore[index]
    for name, mine, theirs in boards:
        by_agent = {row["agent"]: row for row in theirs}
        assert [row["agent"] for row in mine] == [row["agent"] for row in theirs], name
        widths = []
        for row in mine:
            other = by_agent[row["agent"]]
            for key in ("matches", "wins", "draws", "losses", "statuses"):
                assert row[key] == other[key], (name, key)
            assert row["cpu_s_per_move"] == pytest.approx(other["cpu_s_per_move"])
            # The same estimate: Bradley-Terry on pair counts is the same likelihood, and
            # OpenSkill saw the matches in the same order.
            assert row["rating"] == pytest.approx(other["rating"], abs=0.01), name
            widths.append((row["upper"] - row["lower"], other["upper"] - other["lower"]))
        # Intervals from a Poisson bootstrap of the counts against resampled matches: the
        # same within bootstrap noise (one agent's width over 60 matches varies by a third
        # from seed to seed, a board's mean width far less).
        mean, their_mean = (sum(w) / len(widths) for w in zip(*widths, strict=True))
        assert mean == pytest.approx(their_mean, rel=0.25, abs=1e-6), name
        for width, their_width in widths:
            assert their_width / 2 <= width <= 2 * their_width or width == their_width == 0
    assert ours["history"] == today["history"] if method == "openskill" else True
    assert [e["agent"] for e in ours["efficiency"]] == [e["agent"] for e in today["efficiency"]]


def test_a_refresh_takes_in_only_what_arrived_since(factory: sessionmaker[Session]) -> None:
    _population(factory, 30)
    keeper = BoardKeeper(factory)
    assert keeper.refresh().matches_applied == 30
    with factory() as session:
        before = keeper.served(session, "bradley_terry")
    assert gzip.decompress(before.gzip()).decode() == before.body
    idle = keeper.refresh()
    assert idle.matches_applied == 0 and idle.boards == 0  # nothing new: nothing refitted
    _store(factory, "tictactoe-v1", ["builtin:a0", "builtin:new"], [-1.0, 1.0])
    after = keeper.refresh()
    assert after.matches_applied == 1 and after.rated == 31
    data = _boards(keeper, factory, "bradley_terry")
    assert data["matches"] == 31
    with factory() as session:  # refitted: a client's ETag no longer matches
        assert keeper.served(session, "bradley_terry").etag != before.etag
    line = next(row for row in data["global"] if row["agent"] == "builtin:new")  # type: ignore[union-attr]
    assert (line["wins"], line["matches"], line["lower"] < line["rating"] < line["upper"]) == (
        1,
        1,
        True,
    )


def test_a_new_keeper_reloads_the_counts_and_carries_on_exactly(
    factory: sessionmaker[Session],
) -> None:
    _population(factory, 40, seed=2)
    first = BoardKeeper(factory, lease_s=0.0)  # its lease lapses at once: others may take over
    first.refresh()
    _population(factory, 10, seed=3)  # stored while no keeper runs
    second = BoardKeeper(factory)
    stats = second.refresh()
    assert stats.loaded and stats.matches_applied == 10 and stats.rated == 50
    ours = _boards(second, factory, "bradley_terry")
    with factory() as session:
        outcomes = finished_outcomes(session)
    today = build_leaderboards(outcomes, domains_of(outcomes), bootstrap=0).to_json()
    assert {r["agent"]: r["wins"] for r in ours["global"]} == {  # type: ignore[union-attr]
        r["agent"]: r["wins"] for r in today["global"]
    }
    for mine, theirs in zip(
        sorted(ours["global"], key=lambda r: r["agent"]),  # type: ignore[arg-type]
        sorted(today["global"], key=lambda r: r["agent"]),
        strict=True,
    ):
        assert mine["rating"] == pytest.approx(theirs["rating"], abs=0.01)


def test_only_one_keeper_holds_the_lease(factory: sessionmaker[Session]) -> None:
    _population(factory, 5)
    leader, follower = BoardKeeper(factory), BoardKeeper(factory)
    assert leader.refresh().leader
    assert not follower.refresh().leader
    with factory() as session:  # the follower serves what the leader stored
        assert json.loads(follower.read(session, "bradley_terry"))["matches"] == 5


def test_matches_stored_before_the_boards_kept_counts_are_counted_once(
    migrated: Engine, factory: sessionmaker[Session]
) -> None:
    _population(factory, 20)
    with migrated.begin() as conn:  # as a database from before migration 0009 would be
        for table in (BoardPairRow, BoardRecordRow, BoardInboxRow, PlatformBoardRow):
            conn.execute(delete(table))
        conn.execute(
            text(
                "INSERT INTO board_inbox (match_id, finished_at, counted) "
                "SELECT id, finished_at, false FROM matches WHERE status = 'finished'"
            )
        )
    keeper = BoardKeeper(factory, bootstrap=0)
    assert keeper.refresh().rated == 20
    with factory() as session:
        outcomes = finished_outcomes(session)
        stored = session.scalar(
            select(func.sum(BoardPairRow.wins + BoardPairRow.losses + BoardPairRow.draws)).where(
                BoardPairRow.board == "global"
            )
        )
    pairs = sum(len(o.agents) * (len(o.agents) - 1) // 2 for o in outcomes)
    assert stored == pairs
    again = BoardKeeper(factory, bootstrap=0)  # a reload finds them counted, not twice
    again._loaded = False
    with factory() as session:
        session.execute(text("UPDATE board_state SET leader = NULL"))
        session.commit()
    again.refresh()
    assert sum(r["matches"] for r in _boards(again, factory, "bradley_terry")["global"]) == sum(  # type: ignore[union-attr]
        len(o.agents) for o in outcomes
    )


def test_head_to_head_reads_the_pair_counts(factory: sessionmaker[Session]) -> None:
    _store(factory, "tictactoe-v1", ["builtin:x", "builtin:y"], [1.0, 0.0])
    _store(factory, "tictactoe-v1", ["builtin:y", "builtin:x"], [1.0, 1.0])
    _store(factory, "tictactoe-v1", ["builtin:z", "builtin:x"], [1.0, 0.0])
    with factory() as session:
        assert head_to_head(session, "builtin:x") == [
            {"opponent": "builtin:y", "wins": 1, "draws": 1, "losses": 0},
            {"opponent": "builtin:z", "wins": 0, "draws": 0, "losses": 1},
        ]


def test_history_is_thinned_as_it_grows_and_the_last_point_kept(
    factory: sessionmaker[Session],
) -> None:
    for n in range(HISTORY_KEPT + 5):
        _store(factory, "tictactoe-v1", ["builtin:p", "builtin:q"], [n % 3, 1.0])
    keeper = BoardKeeper(factory, bootstrap=0)
    keeper.refresh()
    with factory() as session:
        kept = session.scalars(
            select(BoardHistoryRow.seq)
            .where(BoardHistoryRow.agent == "builtin:p")
            .order_by(BoardHistoryRow.seq)
        ).all()
        assert len(kept) == HISTORY_KEPT and kept[-1] == HISTORY_KEPT + 5 and kept[0] == 1
        assert kept[1:6] == [3, 5, 7, 9, 11]  # the sweep drops every other point
        assert session.scalar(select(PlatformBoardRow.matches)) == HISTORY_KEPT + 5
    served = _boards(keeper, factory, "openskill")["history"]["builtin:p"]  # type: ignore[index]
    assert len(served) <= 200 and served[-1][0] == HISTORY_KEPT + 5


def test_the_background_keeper_builds_what_wait_for_waits_on(
    factory: sessionmaker[Session],
) -> None:
    keeper = BoardKeeper(factory, interval_s=60.0)  # only a nudge wakes it in time
    keeper.start()
    try:
        _population(factory, 6)
        assert keeper.wait_for(6, timeout_s=60)
        assert _boards(keeper, factory, "bradley_terry")["matches"] == 6
    finally:
        keeper.stop()


def test_a_refresh_renews_a_chunk_of_resamples_and_new_agents_draw_them_all(
    factory: sessionmaker[Session],
) -> None:
    _population(factory, 30)
    keeper = BoardKeeper(factory, bootstrap=40, bootstrap_chunk=10, bootstrap_budget_s=0.0)
    first = keeper.refresh()
    assert first.bootstrapped == first.boards  # every board draws all 40 the first time
    _store(factory, "tictactoe-v1", ["builtin:a0", "builtin:a1"], [1.0, 0.0])
    renewed = keeper.refresh()
    # Over budget at once: one chunk of the board renewed longest ago, point fits elsewhere.
    assert renewed.boards >= 3 and renewed.bootstrapped == 1
    assert sorted(board.renewed for board in keeper._boards.values()).count(10) == 1
    _store(factory, "tictactoe-v1", ["builtin:a0", "builtin:newcomer"], [1.0, 0.0])
    keeper.refresh()
    board = keeper._boards["global"]
    assert board.deviation is not None and board.deviation.shape == (40, 6)
    line = next(
        r
        for r in _boards(keeper, factory, "bradley_terry")["global"]
        if r["agent"] == "builtin:newcomer"  # type: ignore[union-attr]
    )
    assert line["lower"] < line["rating"] < line["upper"]


def test_a_fit_that_goes_wrong_never_reaches_the_boards(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from devspark.rating.counts import CountsFit, fit_pair_counts
    from devspark.services import board_keeper

    def flawed(counts: object, n: int, **kwargs: object) -> CountsFit:
        fit = fit_pair_counts(counts, n, **kwargs)  # type: ignore[arg-type]
        samples = fit.samples.copy()
        if len(samples):
            samples[0, 0] = float("nan")  # one broken resample
        theta = fit.theta if n != 5 else fit.theta * float("nan")  # a broken board
        return CountsFit(theta=theta, samples=samples)

    _store(factory, "tictactoe-v1", ["builtin:a", "builtin:b"], [1.0, 0.0])
    _store(factory, "tictactoe-v1", ["builtin:b", "builtin:a"], [1.0, 0.0])
    _store(factory, "connect_four-v1", ["builtin:c", "builtin:d"], [1.0, 0.0])
    _store(factory, "connect_four-v1", ["builtin:e", "builtin:d"], [1.0, 0.0])
    monkeypatch.setattr(board_keeper, "fit_pair_counts", flawed)
    keeper = BoardKeeper(factory, bootstrap=20)
    keeper.refresh()
    with factory() as session:
        body = keeper.read(session, "bradley_terry")
    assert "NaN" not in body
    data = json.loads(body)
    assert set(data["by_scenario"]) == {"tictactoe-v1", "connect_four-v1"}
    assert data["global"] == [] or all(r["lower"] <= r["rating"] for r in data["global"])
