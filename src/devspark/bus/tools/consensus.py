"""Consensus: proposals that a set of voters decide by majority or quorum before a deadline.

A proposal names a topic, its options (2 to 32 distinct strings), a deadline and a rule:

- ``majority``: the ``voters`` are named; an option is decided as soon as more than
  half of them voted for it.
- ``quorum``: once at least ``quorum`` votes are in, an option is decided as soon as it
  has more than half of the votes cast (``voters``, when given, limits who may vote).

Each voter votes once. A proposal still open at its deadline, or once all its named
voters voted without deciding it, ends ``no_decision`` (checked whenever it is read or
voted on). Time comes from an injected clock (any
unit; :func:`time.monotonic` by default), so tests and matches can use their own.
Thread-safe, in-process; proposal ids (``p1``, ``p2``, ...) follow the order of proposals.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from devspark.bus.tools.access import check_name
from devspark.core.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
)

Rule = Literal["majority", "quorum"]
RULES: tuple[Rule, ...] = ("majority", "quorum")
MAX_OPTIONS = 32
MAX_VOTERS = 256
MAX_PROPOSALS = 1024
"""Proposals one :class:`Consensus` keeps (decided or not)."""


@dataclass(slots=True)
class Proposal:
    """One proposal and its votes.

    Attributes:
        id: ``p1``, ``p2``, ... in the order proposed.
        state: ``open``, ``decided`` or ``no_decision``.
        winner: The decided option (``None`` unless decided).
        votes: Voter -> option, in the order cast.

    """

    id: str
    topic: str
    proposer: str
    options: tuple[str, ...]
    rule: Rule
    voters: tuple[str, ...] | None
    quorum: int
    deadline: float
    state: str = "open"
    winner: str | None = None
    votes: dict[str, str] = field(default_factory=dict)

    def tally(self) -> dict[str, int]:
        """Votes per option, every option listed."""
        counts = dict.fromkeys(self.options, 0)
        for option in self.votes.values():
            counts[option] += 1
        return counts

    def public(self) -> dict[str, Any]:
        """The JSON form agents get."""
        return {
            "id": self.id,
            "topic": self.topic,
            "proposer": self.proposer,
            "options": list(self.options),
            "rule": self.rule,
            "voters": None if self.voters is None else list(self.voters),
            "quorum": self.quorum,
            "deadline": self.deadline,
            "state": self.state,
            "winner": self.winner,
            "tally": self.tally(),
            "votes": len(self.votes),
        }

    def settle(self, now: float) -> None:
        """Decide if the votes allow it; else end ``no_decision`` once past the deadline."""
        if self.state != "open":
            return
        counts = self.tally()
        if self.rule == "majority":
            assert self.voters is not None
            needed, enough = len(self.voters) // 2 + 1, True
        else:
            needed, enough = len(self.votes) // 2 + 1, len(self.votes) >= self.quorum
        leaders = [option for option, count in counts.items() if count >= needed]
        everyone = self.voters is not None and len(self.votes) == len(self.voters)
        if enough and leaders:
            self.state, self.winner = "decided", leaders[0]
        elif now >= self.deadline or everyone:  # out of time, or nobody left to vote
            self.state = "no_decision"


class Consensus:
    """Proposals and votes (see the module documentation)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """No proposals yet; ``clock`` tells the time deadlines are compared with."""
        self._clock = clock
        self._proposals: dict[str, Proposal] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        """The clock's time now."""
        return self._clock()

    def propose(
        self,
        topic: str,
        options: Sequence[str],
        *,
        deadline: float,
        rule: Rule = "majority",
        voters: Sequence[str] | None = None,
        quorum: int | None = None,
        proposer: str = "",
    ) -> Proposal:
        """Open a proposal.

        Args:
            topic: What it is about (a dot-separated name, e.g. ``plan.next``).
            options: 2 to 32 distinct non-empty strings.
            deadline: The clock time after which it ends ``no_decision`` if undecided.
            rule: ``majority`` (needs ``voters``) or ``quorum`` (needs ``quorum``).
            voters: Who may vote (any voter when ``None``, quorum rule only).
            quorum: Votes needed before the quorum rule decides (1 or more).
            proposer: Who proposed it (recorded).

        Returns:
            The proposal (a copy: read it again with :meth:`result`).

        Raises:
            InvalidArgumentError: naming the bad argument and value.
            ResourceExhaustedError: over :data:`MAX_PROPOSALS`.

        """
        check_name("topic", topic)
        choices = _options(options)
        if rule not in RULES:
            raise InvalidArgumentError(f"rule {rule!r} must be one of {list(RULES)}")
        group = None if voters is None else _voters(voters)
        if rule == "majority" and group is None:
            raise InvalidArgumentError("rule 'majority' needs voters (the names who vote)")
        if rule == "quorum":
            if isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
                raise InvalidArgumentError(f"rule 'quorum' needs quorum >= 1, got {quorum!r}")
            if group is not None and quorum > len(group):
                raise InvalidArgumentError(f"quorum {quorum} is more than the {len(group)} voters")
        with self._lock:
            if len(self._proposals) >= MAX_PROPOSALS:
                raise ResourceExhaustedError(f"{MAX_PROPOSALS} proposals made already")
            ident = f"p{len(self._proposals) + 1}"
            proposal = Proposal(
                ident, topic, proposer, choices, rule, group, quorum or 0, float(deadline)
            )
            self._proposals[ident] = proposal
            return _copy(proposal)

    def vote(self, proposal_id: str, voter: str, option: str) -> Proposal:
        """Cast ``voter``'s vote; the proposal may be decided by it.

        Raises:
            NotFoundError: no such proposal.
            PermissionDeniedError: ``voter`` is not one of its voters.
            FailedPreconditionError: it is closed (decided, or past its deadline), or
                ``voter`` voted already.
            InvalidArgumentError: ``option`` is not one of its options.

        """
        with self._lock:
            proposal = self._get(proposal_id)
            proposal.settle(self._clock())
            if proposal.state != "open":
                raise FailedPreconditionError(
                    f"proposal {proposal_id} is closed ({proposal.state})"
                )
            if proposal.voters is not None and voter not in proposal.voters:
                raise PermissionDeniedError(f"{voter!r} is not a voter of proposal {proposal_id}")
            if voter in proposal.votes:
                raise FailedPreconditionError(f"{voter!r} voted on proposal {proposal_id} already")
            if option not in proposal.options:
                raise InvalidArgumentError(
                    f"option {option!r} is not one of {list(proposal.options)}"
                )
            proposal.votes[voter] = option
            proposal.settle(self._clock())
            return _copy(proposal)

    def result(self, proposal_id: str) -> Proposal:
        """The proposal now (settled against the clock first).

        Raises:
            NotFoundError: no such proposal.

        """
        with self._lock:
            proposal = self._get(proposal_id)
            proposal.settle(self._clock())
            return _copy(proposal)

    def _get(self, proposal_id: str) -> Proposal:
        proposal = self._proposals.get(proposal_id)
        if proposal is None:
            raise NotFoundError(f"no proposal {proposal_id!r}")
        return proposal


def _copy(proposal: Proposal) -> Proposal:
    return dataclasses.replace(proposal, votes=dict(proposal.votes))


def _options(options: Sequence[str]) -> tuple[str, ...]:
    if isinstance(options, str) or not isinstance(options, Sequence):
        raise InvalidArgumentError("options must be a list of strings")
    choices = tuple(options)
    if not 2 <= len(choices) <= MAX_OPTIONS or len(set(choices)) != len(choices):
        raise InvalidArgumentError(
            f"options must be 2-{MAX_OPTIONS} distinct strings, got {list(choices)[:40]}"
        )
    if not all(isinstance(item, str) and 0 < len(item) <= 255 for item in choices):
        raise InvalidArgumentError("every option must be a string of 1-255 characters")
    return choices


def _voters(voters: Sequence[str]) -> tuple[str, ...]:
    if isinstance(voters, str) or not isinstance(voters, Sequence):
        raise InvalidArgumentError("voters must be a list of names")
    group = tuple(voters)
    if not 1 <= len(group) <= MAX_VOTERS or len(set(group)) != len(group):
        raise InvalidArgumentError(f"voters must be 1-{MAX_VOTERS} distinct names")
    if not all(isinstance(item, str) and item for item in group):
        raise InvalidArgumentError("every voter must be a non-empty string")
    return group


__all__ = ["RULES", "Consensus", "Proposal", "Rule"]
