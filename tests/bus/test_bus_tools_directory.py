"""Discovery by capability and teams formed by a greedy cover."""

import pytest

from devspark.bus.tools import Discovery, Teams
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError


def directory() -> Discovery:
    discovery = Discovery()
    discovery.register("scout-1", ["scout"], {"speed": 2})
    discovery.register("lifter", ["lift", "carry"])
    discovery.register("all-rounder", ["scout", "lift", "carry", "map"])
    discovery.register("mapper", ["map"])
    return discovery


def test_find_lists_members_offering_a_capability_by_name() -> None:
    discovery = directory()
    assert [m.name for m in discovery.find("scout")] == ["all-rounder", "scout-1"]
    assert discovery.find("fly") == []
    assert discovery.find("scout")[1].public() == {
        "member": "scout-1",
        "capabilities": ["scout"],
        "info": {"speed": 2},
    }
    discovery.register("scout-1", ["fly"])  # registering again replaces
    assert [m.name for m in discovery.find("scout")] == ["all-rounder"]
    assert discovery.unregister("scout-1") is True and discovery.unregister("scout-1") is False


def test_bad_registrations_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="capabilities must be a list"):
        Discovery().register("a", "scout")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="info is"):
        Discovery().register("a", ["x"], info="y" * 5000)


def test_a_team_covers_the_need_with_few_members_and_members_join_one_team() -> None:
    teams = Teams(directory())
    first = teams.form(["scout", "lift", "map"], formed_by="scout-1")
    assert first.members == ("all-rounder",)  # one member covers all three
    assert first.covers == {"scout": "all-rounder", "lift": "all-rounder", "map": "all-rounder"}
    second = teams.form(["scout", "lift", "map"])
    assert (second.id, second.members) == ("t2", ("lifter", "mapper", "scout-1"))
    with pytest.raises(FailedPreconditionError, match="no free member offers \\['scout'\\]"):
        teams.form(["scout"])
    assert [team.id for team in teams.teams()] == ["t1", "t2"]
    teams.dissolve("t1")
    assert teams.form(["scout"]).members == ("all-rounder",)
    with pytest.raises(NotFoundError, match="no team 't1'"):
        teams.get("t1")


def test_forming_is_deterministic() -> None:
    picks = [Teams(directory()).form(["carry", "scout", "map"]).members for _ in range(3)]
    assert picks == [("all-rounder",)] * 3
