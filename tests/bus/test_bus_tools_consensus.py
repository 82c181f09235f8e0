"""Consensus: majority and quorum rules, deadlines on an injected clock."""

import pytest

from devspark.bus.tools import Consensus
from devspark.core.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)


def still() -> float:
    """A clock that never moves: deadlines never pass."""
    return 0.0


def test_majority_decides_once_more_than_half_of_the_voters_agree() -> None:
    consensus = Consensus(still)
    proposal = consensus.propose(
        "plan.target", ["north", "south"], voters=["a", "b", "c"], deadline=10, proposer="a"
    )
    assert (proposal.id, proposal.state) == ("p1", "open")
    assert consensus.vote("p1", "a", "north").state == "open"
    assert consensus.vote("p1", "b", "south").state == "open"
    decided = consensus.vote("p1", "c", "north")
    assert (decided.state, decided.winner) == ("decided", "north")
    assert decided.tally() == {"north": 2, "south": 1}
    with pytest.raises(FailedPreconditionError, match="closed \\(decided\\)"):
        consensus.vote("p1", "c", "north")


def test_a_split_vote_ends_without_decision() -> None:
    consensus = Consensus(still)
    consensus.propose("t", ["x", "y"], voters=["a", "b"], deadline=10)
    consensus.vote("p1", "a", "x")
    result = consensus.vote("p1", "b", "y")  # everyone voted, nobody has a majority
    assert (result.state, result.winner) == ("no_decision", None)


def test_an_open_proposal_ends_without_decision_at_its_deadline() -> None:
    now = [0.0]  # the clock, moved by hand
    consensus = Consensus(lambda: now[0])
    consensus.propose("t", ["x", "y"], voters=["a", "b", "c"], deadline=5)
    consensus.vote("p1", "a", "x")
    now[0] = 4.9
    assert consensus.result("p1").state == "open"
    now[0] = 5
    assert consensus.result("p1").state == "no_decision"
    with pytest.raises(FailedPreconditionError, match="closed \\(no_decision\\)"):
        consensus.vote("p1", "b", "x")


def test_quorum_waits_for_enough_votes_then_needs_half_of_them() -> None:
    consensus = Consensus(still)
    consensus.propose("t", ["x", "y", "z"], rule="quorum", quorum=3, deadline=10)
    consensus.vote("p1", "anyone", "x")
    assert consensus.vote("p1", "someone", "x").state == "open"  # 2 of 3 votes needed
    decided = consensus.vote("p1", "third", "y")
    assert (decided.state, decided.winner) == ("decided", "x")
    consensus.propose("t", ["x", "y"], rule="quorum", quorum=2, voters=["a", "b", "c"], deadline=10)
    with pytest.raises(PermissionDeniedError, match="'d' is not a voter of proposal p2"):
        consensus.vote("p2", "d", "x")


def test_each_voter_votes_once_for_a_listed_option() -> None:
    consensus = Consensus(still)
    consensus.propose("t", ["x", "y"], voters=["a", "b", "c"], deadline=10)
    with pytest.raises(InvalidArgumentError, match="option 'w' is not one of"):
        consensus.vote("p1", "a", "w")
    consensus.vote("p1", "a", "x")
    with pytest.raises(FailedPreconditionError, match="voted on proposal p1 already"):
        consensus.vote("p1", "a", "y")
    with pytest.raises(NotFoundError, match="no proposal 'p9'"):
        consensus.result("p9")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"options": ["x"]}, "options must be 2-32 distinct"),
        ({"options": ["x", "x"]}, "options must be 2-32 distinct"),
        ({"voters": None}, "rule 'majority' needs voters"),
        ({"rule": "plurality"}, "rule 'plurality' must be one of"),
        ({"rule": "quorum", "voters": None}, "rule 'quorum' needs quorum >= 1"),
        ({"rule": "quorum", "quorum": 4}, "quorum 4 is more than the 3 voters"),
        ({"topic": "no spaces"}, "topic 'no spaces'"),
    ],
)
def test_bad_proposals_name_what_is_wrong(arguments: dict[str, object], message: str) -> None:
    given: dict[str, object] = {
        "topic": "t",
        "options": ["x", "y"],
        "voters": ["a", "b", "c"],
        "rule": "majority",
    } | arguments
    with pytest.raises(InvalidArgumentError, match=message):
        Consensus(still).propose(deadline=1, **given)  # type: ignore[arg-type]
