"""Platform boards: built from every finished match, cached, refreshed by cost."""

from __future__ import annotations

from sqlalchemy.orm import Session

from devspark.services.leaderboards import PlatformBoards


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.step = 0.0  # what each reading adds: the cost of a build

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_boards_of_an_empty_server_are_empty(session: Session) -> None:
    boards = PlatformBoards().get(session)
    assert boards["global"] == [] and boards["matches"] == 0


def test_a_costly_build_is_held_a_while_a_cheap_one_is_not(session: Session) -> None:
    clock = Clock()
    boards = PlatformBoards(min_refresh_s=5.0, clock=clock)
    clock.step = 1.0  # builds "take" a second: held min(5, 10 x 1) = 5 s
    first = boards.get(session)
    clock.step = 0.0
    assert boards.get(session) is first  # within the hold: no query at all
    clock.now += 6
    assert boards.get(session) is first  # expired, but nothing finished since: same key
    cheap = PlatformBoards(min_refresh_s=5.0, clock=Clock())  # builds take no time
    built = cheap.get(session)
    assert cheap.get(session) is built  # same key: cached however cheap
