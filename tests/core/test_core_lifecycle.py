"""Agent lifecycle: allowed and forbidden transitions, recorded history."""

from __future__ import annotations

import re

import pytest

from devspark.core.errors import FailedPreconditionError
from devspark.core.lifecycle import TRANSITIONS, Lifecycle, LifecycleState

S = LifecycleState


def test_starts_registered_with_no_history() -> None:
    lifecycle = Lifecycle()
    assert lifecycle.state is S.REGISTERED
    assert list(lifecycle.history) == []
    assert lifecycle.transitions == 0


def test_the_designed_path_is_allowed_and_recorded_with_reasons() -> None:
    lifecycle = Lifecycle()
    path = [
        (S.DEPLOYING, "starting"),
        (S.ONLINE, "ready"),
        (S.BUSY, "episode 0"),
        (S.IDLE, "episode over"),
        (S.BUSY, "episode 1"),
        (S.ERROR, "crashed"),
        (S.DEPLOYING, "restart"),
        (S.ONLINE, "ready again"),
        (S.MAINTENANCE, "upgrade"),
        (S.OFFLINE, "closed"),
    ]
    for target, reason in path:
        lifecycle.move(target, reason)
    assert lifecycle.state is S.OFFLINE
    assert [(t.target, t.reason) for t in lifecycle.history] == path
    sources = [t.source for t in lifecycle.history]
    assert sources == [S.REGISTERED] + [target for target, _ in path[:-1]]
    times = [t.at for t in lifecycle.history]
    assert times == sorted(times)
    assert lifecycle.transitions == len(path)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], S.BUSY),
        ([], S.ONLINE),
        ([S.DEPLOYING], S.BUSY),
        ([S.DEPLOYING, S.ONLINE, S.BUSY], S.ONLINE),
        ([S.DEPLOYING, S.ONLINE, S.OFFLINE], S.ONLINE),
        ([S.DEPLOYING, S.ONLINE, S.OFFLINE], S.BUSY),
        ([S.DEPLOYING, S.ERROR], S.ONLINE),
    ],
)
def test_forbidden_transitions_raise_and_change_nothing(
    path: list[LifecycleState], target: LifecycleState
) -> None:
    lifecycle = Lifecycle()
    for state in path:
        lifecycle.move(state, "setup")
    before, count = lifecycle.state, lifecycle.transitions
    expected = f"cannot go from {before.value!r} to {target.value!r} (the reason)"
    with pytest.raises(FailedPreconditionError, match=re.escape(expected)):
        lifecycle.move(target, "the reason")
    assert lifecycle.state is before
    assert lifecycle.transitions == count
    assert len(lifecycle.history) == count


def test_every_state_can_be_left_and_offline_is_reachable_from_every_state() -> None:
    assert set(TRANSITIONS) == set(S)
    for state, targets in TRANSITIONS.items():
        assert targets, state
        assert state not in targets
        if state is not S.OFFLINE:
            assert S.OFFLINE in targets, state


def test_staying_put_is_a_no_op() -> None:
    lifecycle = Lifecycle()
    lifecycle.move(S.REGISTERED, "again")
    assert lifecycle.transitions == 0
    assert list(lifecycle.history) == []


def test_history_is_bounded_but_transitions_are_counted() -> None:
    lifecycle = Lifecycle()
    lifecycle.move(S.DEPLOYING, "start")
    lifecycle.move(S.ONLINE, "ready")
    episodes = Lifecycle.HISTORY
    for episode in range(episodes):
        lifecycle.move(S.BUSY, f"episode {episode}")
        lifecycle.move(S.IDLE, f"done {episode}")
    assert lifecycle.transitions == 2 + 2 * episodes
    assert len(lifecycle.history) == Lifecycle.HISTORY
    assert lifecycle.history[-1].reason == f"done {episodes - 1}"
    assert lifecycle.history[0].reason == f"episode {episodes // 2}"
