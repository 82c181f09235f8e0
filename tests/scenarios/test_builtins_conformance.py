"""Every registered scenario passes the conformance kit; the kit catches broken ones."""

from typing import Any

import pytest

from devspark.scenarios import ScenarioInfo, list_scenarios
from devspark.scenarios.tictactoe import TicTacToe
from devspark.testing.check_scenario import check_scenario


@pytest.mark.parametrize("info", list_scenarios(), ids=lambda info: info.full_id)
def test_builtin_scenario_conforms(info: ScenarioInfo) -> None:
    check_scenario(info.full_id)


def test_check_scenario_accepts_a_factory() -> None:
    check_scenario(TicTacToe, num_cycles=50)


class RaisesOnGarbage(TicTacToe):
    scenario_id = "raises_on_garbage"

    def is_legal(self, agent: str, action: Any) -> bool:
        # Indexes the board with whatever came off the wire.
        return agent == self.agent_selection and not self._board[action]


class ForfeitDoesNothing(TicTacToe):
    scenario_id = "forfeit_does_nothing"

    def forfeit(self, agent: str, status: str) -> None:
        pass


class RewardsTheFaultingAgent(TicTacToe):
    scenario_id = "rewards_the_faulting_agent"

    def forfeit(self, agent: str, status: str) -> None:
        if self._check_fault(agent, status):
            self._done = True
            self._end_episode({agent: 1.0})


class NotJson(TicTacToe):
    scenario_id = "not_json"

    def observe_json(self, agent: str) -> dict[str, Any]:
        return {"board": tuple(self._board), "marks": {1, 2}}


class AcceptsAnyTurn(TicTacToe):
    scenario_id = "accepts_any_turn"

    def is_legal(self, agent: str, action: Any) -> bool:
        return type(action) is int and 0 <= action <= 8 and not self._board[action]


class Nondeterministic(TicTacToe):
    scenario_id = "nondeterministic"

    def render_state(self) -> dict[str, Any]:
        return {**super().render_state(), "noise": self.rng.random() if self._moves else 0}

    def _new_episode(self, options: dict[str, Any]) -> None:
        super()._new_episode(options)
        self._seed = None
        self._rng = None


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (RaisesOnGarbage, r"is_legal\('player_0', 'x'\) raised TypeError"),
        (ForfeitDoesNothing, "the episode is not over"),
        (RewardsTheFaultingAgent, "the faulting agent's return is not the lowest"),
        (NotJson, r"observe_json\('player_0'\) is not JSON-serialisable"),
        (AcceptsAnyTurn, r"is_legal\('player_1', 0\) is True while it is player_0's turn"),
        (Nondeterministic, "replay diverged after 1 steps"),
    ],
)
def test_check_scenario_catches_broken_scenarios(cls: type[TicTacToe], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_scenario(cls, num_cycles=20)


def test_check_scenario_names_the_scenario_and_the_seed() -> None:
    with pytest.raises(AssertionError, match=r"^not_json-v1 \(difficulty=1, seed=0\): "):
        check_scenario(NotJson, num_cycles=20)


def test_check_scenario_reports_pettingzoo_failures() -> None:
    class WrongDtype(TicTacToe):
        scenario_id = "wrong_dtype"

        def observe(self, agent: str) -> Any:
            observation = super().observe(agent)
            return {**observation, "observation": observation["observation"].astype("int64")}

    with pytest.raises(AssertionError, match="wrong_dtype-v1: PettingZoo api_test"):
        check_scenario(WrongDtype, num_cycles=20)
