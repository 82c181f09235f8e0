"""Semantic versions: semver.org precedence, parsing, and the manifest using the same grammar."""

from __future__ import annotations

import pytest

from devspark.core.errors import InvalidArgumentError
from devspark.core.semver import SEMVER_RE, SemVer, compare_semver
from devspark.services import registry

ORDERED = [
    "0.9.0",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.1.0",
    "1.9.0",
    "1.10.0",
    "2.0.0-rc.1",
    "2.0.0",
    "10.0.0",
]


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("1.0.0", "1.1.0", -1),
        ("1.1.0", "2.0.0-rc.1", -1),
        ("2.0.0-rc.1", "2.0.0", -1),
        ("1.10.0", "1.9.0", 1),
        ("1.0.10", "1.0.9", 1),
        ("1.0.0-alpha", "1.0.0-alpha.1", -1),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta", -1),
        ("1.0.0-beta.11", "1.0.0-beta.2", 1),
        ("1.0.0-rc.1", "1.0.0-rc.1", 0),
        ("1.0.0+build.1", "1.0.0+build.2", 0),
        ("1.0.0-1", "1.0.0-a", -1),
        ("1.0.0-a-b", "1.0.0-a", 1),
        ("2.0.0", "10.0.0", -1),
    ],
)
def test_compare_semver_table(left: str, right: str, expected: int) -> None:
    assert compare_semver(left, right) == expected
    assert compare_semver(right, left) == -expected


def test_semver_sorts_like_semver_org() -> None:
    shuffled = list(reversed(ORDERED[::2])) + ORDERED[1::2]
    assert [str(v) for v in sorted(SemVer.parse(t) for t in shuffled)] == ORDERED


@pytest.mark.parametrize("bad", ["1.0", "01.0.0", "1.0.0-", "1.0.0-01", "v1.0.0", "", "1.0.0+"])
def test_semver_rejects_malformed(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="is not a semantic version"):
        SemVer.parse(bad)


def test_semver_str_round_trip() -> None:
    assert str(SemVer.parse("1.2.3-rc.1+build.7")) == "1.2.3-rc.1+build.7"
    assert SemVer.parse("1.0.0+a") == SemVer.parse("1.0.0+b")
    assert len({SemVer.parse("1.0.0+a"), SemVer.parse("1.0.0")}) == 1


def test_registry_and_core_share_one_semver() -> None:
    assert registry.SemVer is SemVer
    assert registry.compare_semver is compare_semver


@pytest.mark.parametrize("text", ORDERED)
def test_semver_grammar_accepts_every_ordered_version(text: str) -> None:
    assert SEMVER_RE.fullmatch(text) is not None
