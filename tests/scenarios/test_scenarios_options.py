"""Scenario reset options: each scenario's schema and the check every entry point runs."""

from __future__ import annotations

import pytest

from devspark.arena.match import MatchSpec, make_for
from devspark.core.errors import InvalidArgumentError
from devspark.scenarios import resolve
from devspark.scenarios.options import MAX_OPTIONS_BYTES, check_options


@pytest.mark.parametrize(
    ("scenario", "names"),
    [
        ("tictactoe", ["difficulty"]),
        ("connect_four", ["difficulty"]),
        ("maze", ["difficulty"]),
        ("foraging", ["difficulty"]),
        ("prisoners_dilemma", ["difficulty", "rounds"]),
        ("puzzles", ["difficulty", "kind"]),
        ("pettingzoo:classic/tictactoe_v3", ["difficulty"]),
    ],
)
def test_every_scenario_declares_the_options_its_reset_reads(
    scenario: str, names: list[str]
) -> None:
    assert [spec.name for spec in resolve(scenario).option_specs()] == names


def test_valid_options_pass_unchanged() -> None:
    options = {"difficulty": 3, "kind": "latin"}
    assert check_options(resolve("puzzles"), options) == options
    assert check_options(resolve("prisoners_dilemma"), {"rounds": 10, "difficulty": None}) == {
        "rounds": 10,
        "difficulty": None,
    }
    assert check_options(resolve("tictactoe"), None) == {}


def test_difficulty_out_of_range_names_the_option_value_and_range() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        check_options(resolve("connect_four"), {"difficulty": 9})
    assert "options.difficulty=9" in str(caught.value)
    assert "an int in 1-5" in str(caught.value)


@pytest.mark.parametrize("value", [True, 2.0, "3", [1]])
def test_difficulty_of_another_type_is_refused(value: object) -> None:
    with pytest.raises(InvalidArgumentError, match="difficulty must be an int in 1-5"):
        check_options(resolve("maze"), {"difficulty": value})


def test_a_scenario_with_one_level_says_so() -> None:
    with pytest.raises(InvalidArgumentError, match="difficulty must be 1 or null"):
        check_options(resolve("tictactoe"), {"difficulty": 2})


def test_a_misspelt_key_is_refused_with_the_near_name() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        check_options(resolve("connect_four"), {"dificulty": 2})
    assert "options.dificulty is not an option of connect_four-v1" in str(caught.value)
    assert "did you mean `difficulty`?" in str(caught.value)


def test_an_unrelated_key_is_refused_listing_the_options() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        check_options(resolve("prisoners_dilemma"), {"zzz": 1})
    assert "did you mean" not in str(caught.value)
    assert "(its options: difficulty, rounds)" in str(caught.value)


def test_scenario_specific_values_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match=r"options\.rounds=0 .* an int in 1-"):
        check_options(resolve("prisoners_dilemma"), {"rounds": 0})
    with pytest.raises(InvalidArgumentError, match=r"options\.kind='chess' .*'make24'"):
        check_options(resolve("puzzles"), {"kind": "chess"})


def test_options_over_the_size_cap_are_refused_before_their_keys() -> None:
    big = {"dificulty": "x" * MAX_OPTIONS_BYTES}
    with pytest.raises(InvalidArgumentError, match="at most 16,384 are accepted"):
        check_options(resolve("tictactoe"), big)


def test_options_that_are_not_an_object_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="must be an object"):
        check_options(resolve("tictactoe"), [1, 2])  # type: ignore[arg-type]


def test_the_arena_refuses_a_match_spec_with_bad_options() -> None:
    agents = ("builtin:random", "builtin:random")
    with pytest.raises(InvalidArgumentError, match="did you mean `difficulty`"):
        make_for(MatchSpec("connect_four", agents, options={"dificulty": 2}))
    assert make_for(MatchSpec("connect_four", agents, options={"difficulty": 2})).full_id == (
        "connect_four-v1"
    )
