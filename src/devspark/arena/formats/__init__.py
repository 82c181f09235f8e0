"""Tournament formats: pure, deterministic schedulers that issue pairings and learn results.

Every format implements :class:`TournamentFormat`: :meth:`~TournamentFormat.next_round`
returns the next batch of :class:`Pairing` (``[]`` once the tournament is over),
:meth:`~TournamentFormat.record` takes each pairing's
:class:`~devspark.rating.outcomes.Outcome`, and ``done`` says when everything issued
has been recorded and nothing is left. Given the same seed and the same outcomes a
format issues the same pairings with the same match seeds, so the same code runs from
the CLI, the server and a notebook. Formats: :class:`RoundRobin`, :class:`Swiss`,
:class:`SingleElimination`, :class:`DoubleElimination`, :class:`Gauntlet` and
:class:`Ladder` (see ``docs/tournaments.md``).

For runners: loop ``while not fmt.done: batch = fmt.next_round()``, play every
pairing of the batch (in any order or in parallel, seats as given in
``pairing.agents``, match seed ``pairing.seed``) and call ``fmt.record(pairing,
outcome)`` once for each; only then ask for the next batch (``next_round`` raises
:class:`~devspark.core.errors.FailedPreconditionError` while pairings are pending).
Every issued pairing has two or more distinct agents and must be played; nothing is
ever issued that should be skipped. Byes (Swiss with an odd count, bracket slots
without an opponent) are *not* issued: the format scores or advances the agent
itself and lists it in ``fmt.byes`` (:class:`Bye`: agent, round, label) for display.
A match whose agent faulted is still an outcome (record it; the scores decide).
The :class:`Ladder` does not update ratings: apply each outcome to the rating model
it reads (e.g. ``OpenSkillRatings.update``) before asking for the next batch. A best-of
elimination tie issues several pairings between the same two agents in one batch.
``record`` raises :class:`~devspark.core.errors.InvalidArgumentError` for a pairing the
format did not issue or an outcome with other agents, and
:class:`~devspark.core.errors.ConflictError` for a pairing recorded twice.

Examples:
    >>> from devspark.rating.outcomes import Outcome
    >>> fmt = SingleElimination(["strong", "medium", "weak"])
    >>> while not fmt.done:
    ...     for pairing in fmt.next_round():
    ...         a, b = pairing.agents
    ...         wins = {"strong": 3, "medium": 2, "weak": 1}
    ...         fmt.record(pairing, Outcome(pairing.agents, (wins[a], wins[b])))
    >>> fmt.champion, [bye.agent for bye in fmt.byes]
    ('strong', ['strong'])

"""

from devspark.arena.formats._base import (
    Bye,
    Pairing,
    RatingView,
    TournamentFormat,
    match_seed,
)
from devspark.arena.formats._elimination import DoubleElimination, SingleElimination
from devspark.arena.formats._fixed import Gauntlet, RoundRobin
from devspark.arena.formats._ladder import MATCHMAKING, Ladder, information_gain
from devspark.arena.formats._swiss import Swiss, SwissStanding

__all__ = [
    "MATCHMAKING",
    "Bye",
    "DoubleElimination",
    "Gauntlet",
    "Ladder",
    "Pairing",
    "RatingView",
    "RoundRobin",
    "SingleElimination",
    "Swiss",
    "SwissStanding",
    "TournamentFormat",
    "information_gain",
    "match_seed",
]
