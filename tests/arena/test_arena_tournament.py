"""Tournaments: formats played on an executor, rated online, published with intervals."""

from __future__ import annotations

from pathlib import Path

import pytest

from devspark.arena.executors import LocalExecutor
from devspark.arena.formats import Pairing
from devspark.arena.tournament import (
    FORMATS,
    build_format,
    read_outcomes,
    run_tournament,
)
from devspark.core.errors import InvalidArgumentError
from devspark.core.results import MatchResult
from devspark.rating.models import OpenSkillRatings
from devspark.sandbox import IsolationLevel

TRUSTED = IsolationLevel.TRUSTED
C4 = ("builtin:connect-four-alphabeta", "builtin:connect-four-heuristic", "builtin:random")


def play(name: str, agents: tuple[str, ...], **kwargs: object) -> object:
    ratings = OpenSkillRatings()
    schedule = build_format(name, agents, seed=3, ratings=ratings, **kwargs)  # type: ignore[arg-type]
    with LocalExecutor(workers=1) as executor:
        return run_tournament(
            schedule,
            "connect_four",
            executor=executor,
            ratings=ratings,
            isolation=TRUSTED,
            seed=3,
            bootstrap=50,
        )


def test_a_round_robin_ranks_the_baselines_in_strength_order() -> None:
    seen: list[tuple[Pairing, MatchResult]] = []
    ratings = OpenSkillRatings()
    schedule = build_format("round_robin", C4, seed=1, rounds=2, ratings=ratings)
    with LocalExecutor(workers=1) as executor:
        tournament = run_tournament(
            schedule,
            "connect_four",
            executor=executor,
            ratings=ratings,
            isolation=TRUSTED,
            seed=1,
            on_result=lambda p, r: seen.append((p, r)),
            bootstrap=50,
        )
    assert len(tournament.outcomes) == len(seen) == 3 * 2 * 2  # 3 pairs, 2 legs, 2 seat orders
    order = [row.agent for row in tournament.standings]
    assert order == list(C4)
    best = tournament.standings[0]
    assert best.rank == 1 and best.wins == 8 and best.losses == 0
    assert best.lower <= best.rating <= best.upper
    assert tournament.ratings.estimate(C4[0])[0] > tournament.ratings.estimate(C4[2])[0]
    public = tournament.public()
    assert public["matches"] == 12 and public["scenario"] == "connect_four-v1"
    assert set(public["standings"][0]) == {
        "agent",
        "rank",
        "rating",
        "lower",
        "upper",
        "wins",
        "draws",
        "losses",
    }


@pytest.mark.parametrize("name", [f for f in FORMATS if f != "gauntlet"])
def test_every_format_runs_to_a_verdict(name: str) -> None:
    tournament = play(name, C4, rounds=None if name != "ladder" else 12)
    standings = tournament.standings  # type: ignore[attr-defined]
    assert {row.agent for row in standings} == set(C4)
    assert standings[-1].agent == "builtin:random"


def test_a_gauntlet_plays_entrants_against_baselines_only() -> None:
    tournament = play("gauntlet", C4[:2], baselines=("builtin:random",), rounds=2)
    pairs = {frozenset(o.agents) for o in tournament.outcomes}  # type: ignore[attr-defined]
    assert pairs == {frozenset({C4[0], "builtin:random"}), frozenset({C4[1], "builtin:random"})}


def test_results_files_round_trip(tmp_path: Path) -> None:
    tournament = play("round_robin", C4[1:])
    path = tmp_path / "results.json"
    tournament.write(path)  # type: ignore[attr-defined]
    assert read_outcomes(path) == tournament.outcomes  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content", "message"),
    [("{}", "not a DevSpark tournament results file"), ("nope", "results file")],
)
def test_bad_results_files_say_why(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InvalidArgumentError, match=message):
        read_outcomes(path)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("league", {}, "is not one of"),
        ("gauntlet", {}, "needs --baseline"),
        ("ladder", {"ratings": None}, "needs the ratings"),
    ],
)
def test_bad_formats_are_refused(name: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        build_format(name, C4, **kwargs)  # type: ignore[arg-type]
