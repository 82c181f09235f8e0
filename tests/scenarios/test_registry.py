import dataclasses
import sys
import uuid
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devspark.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from devspark.scenarios import ScenarioInfo, list_scenarios, make, resolve
from devspark.scenarios import registry as registry_module
from devspark.scenarios.base import Scenario
from devspark.scenarios.registry import ScenarioRegistry
from devspark.scenarios.tictactoe import TicTacToe


class FakeV1(TicTacToe):
    scenario_id = "fake_game"
    version = 1


class FakeV2(TicTacToe):
    scenario_id = "fake_game"
    version = 2
    domains = ("game", "adversarial")


def fresh(*classes: type[Scenario]) -> ScenarioRegistry:
    registry = ScenarioRegistry(plugin_group=None)
    for cls in classes:
        registry.register(cls)
    return registry


def test_resolve_latest_and_versioned() -> None:
    assert resolve("tictactoe") is TicTacToe
    assert resolve("tictactoe-v1") is TicTacToe
    registry = fresh(FakeV2, FakeV1)
    assert registry.resolve("fake_game") is FakeV2
    assert registry.resolve("fake_game-v1") is FakeV1


def test_miss_suggests_near_names() -> None:
    with pytest.raises(
        NotFoundError, match=r"Unknown scenario 'tictactoo'\. Did you mean 'tictactoe'\?"
    ):
        resolve("tictactoo")
    with pytest.raises(NotFoundError, match="Did you mean 'tictactoe-v1'"):
        resolve("tictactoe-1")
    with pytest.raises(NotFoundError, match=r"Unknown scenario 'zzz'\. Available: .*tictactoe"):
        resolve("zzz")


def test_missing_version_lists_available() -> None:
    with pytest.raises(
        NotFoundError, match=r"'tictactoe' has no version 9; available: 'tictactoe-v1'"
    ):
        resolve("tictactoe-v9")


def test_resolve_rejects_non_strings() -> None:
    with pytest.raises(InvalidArgumentError, match="scenario_id=3 must be a str"):
        resolve(3)  # type: ignore[arg-type]


def test_make_stores_options_as_reset_defaults() -> None:
    env = make("tictactoe-v1", difficulty=1)
    assert isinstance(env, TicTacToe)
    assert env.default_options == {"difficulty": 1}
    env.reset(seed=1)
    assert env.difficulty == 1
    with pytest.raises(InvalidArgumentError, match="difficulty=4 is not supported by tictactoe-v1"):
        make("tictactoe", difficulty=4)


def test_list_scenarios() -> None:
    infos = list_scenarios()
    assert ScenarioInfo("tictactoe", 1, ("game",), (2, 2), (1,)) in infos
    assert infos == sorted(infos, key=lambda info: (info.id, info.version))
    assert infos[0].full_id == f"{infos[0].id}-v{infos[0].version}"
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign"):
        infos[0].id = "other"  # type: ignore[misc]
    assert [i.full_id for i in fresh(FakeV2, FakeV1).list_scenarios()] == [
        "fake_game-v1",
        "fake_game-v2",
    ]


def test_register_is_idempotent_but_refuses_conflicts() -> None:
    registry = fresh(FakeV1)
    assert registry.register(FakeV1) is FakeV1

    class Impostor(TicTacToe):
        scenario_id = "fake_game"
        version = 1

    with pytest.raises(ConflictError, match="'fake_game-v1' is already registered"):
        registry.register(Impostor)


def test_register_rejects_non_scenarios() -> None:
    registry = fresh()
    with pytest.raises(
        InvalidArgumentError, match="is not a Scenario or ParallelScenario subclass"
    ):
        registry.register(dict)  # type: ignore[type-var]
    with pytest.raises(InvalidArgumentError, match="abstract or declares no scenario_id"):
        registry.register(Scenario)


def test_class_attributes_are_validated() -> None:
    with pytest.raises(InvalidArgumentError, match="scenario_id='Bad-Name' must match"):

        class BadId(TicTacToe):
            scenario_id = "Bad-Name"

    with pytest.raises(InvalidArgumentError, match=r"domains=.*must be a non-empty subset"):

        class BadDomain(TicTacToe):
            scenario_id = "bad_domain"
            domains = ("cooking",)

    with pytest.raises(InvalidArgumentError, match=r"difficulties=.*must be a non-empty subset"):

        class BadDifficulty(TicTacToe):
            scenario_id = "bad_difficulty"
            difficulties = (0, 6)


def test_subclass_gets_full_id_and_metadata() -> None:
    assert FakeV2.full_id == "fake_game-v2"
    assert FakeV2.metadata["name"] == "fake_game-v2"
    assert TicTacToe.metadata["name"] == "tictactoe-v1"


class PluginScenario(TicTacToe):
    scenario_id = "plugin_game"


def entry_point(name: str, loaded: Any) -> SimpleNamespace:
    def load() -> Any:
        if isinstance(loaded, Exception):
            raise loaded
        return loaded

    return SimpleNamespace(name=name, value=f"plugins:{name}", load=load)


def test_plugins_load_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ScenarioRegistry(plugin_group="devspark.plugins")
    calls: list[str] = []

    def register_more() -> None:
        calls.append("called")
        registry.register(FakeV1)

    def entry_points(group: str) -> list[SimpleNamespace]:
        calls.append(group)
        return [entry_point("cls", PluginScenario), entry_point("fn", register_more)]

    monkeypatch.setattr(registry_module, "_entry_points", entry_points)
    assert calls == []
    assert registry.resolve("plugin_game") is PluginScenario
    assert registry.resolve("fake_game-v1") is FakeV1
    registry.list_scenarios()
    assert calls == ["devspark.plugins", "called"]


def test_broken_plugin_warns_and_the_rest_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ScenarioRegistry()
    monkeypatch.setattr(
        registry_module,
        "_entry_points",
        lambda group: [
            entry_point("broken", ImportError("no module named acme")),
            entry_point("junk", 42),
            entry_point("good", PluginScenario),
        ],
    )
    with (
        pytest.warns(RuntimeWarning, match="plugin 'broken' .*ImportError: no module named acme"),
        pytest.warns(RuntimeWarning, match="plugin 'junk' .*neither a Scenario subclass nor"),
    ):
        assert registry.resolve("plugin_game") is PluginScenario


PLUGIN_MODULE = """
from devspark.scenarios.tictactoe import TicTacToe


class InstalledGame(TicTacToe):
    \"\"\"A scenario shipped by a plugin distribution.\"\"\"

    scenario_id = "installed_game"
"""


def _install_plugin(site: Path, module: str) -> None:
    """Lay out a distribution as pip would: its module and a dist-info with entry points."""
    (site / f"{module}.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    info = site / "devspark_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: devspark-test-plugin\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[devspark.plugins]\ninstalled_game = {module}:InstalledGame\n", encoding="utf-8"
    )


def test_an_installed_plugin_distribution_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"devspark_test_plugin_{uuid.uuid4().hex[:8]}"
    _install_plugin(tmp_path, module)
    # Not on the path yet: the real entry-point scan finds nothing to load.
    before = ScenarioRegistry()
    with pytest.raises(NotFoundError, match="Unknown scenario 'installed_game'"):
        before.resolve("installed_game")
    assert before.list_scenarios() == []

    monkeypatch.syspath_prepend(tmp_path)  # "installed" (and import caches invalidated)
    monkeypatch.delitem(sys.modules, module, raising=False)
    found = metadata.entry_points(group="devspark.plugins")
    assert [(ep.name, ep.value) for ep in found] == [("installed_game", f"{module}:InstalledGame")]
    registry = ScenarioRegistry()
    assert module not in sys.modules  # plugins load lazily, on first use
    cls = registry.resolve("installed_game")
    assert module in sys.modules and cls.__module__ == module
    assert cls.full_id == "installed_game-v1" and registry.resolve("installed_game-v1") is cls
    assert [(info.id, info.version) for info in registry.list_scenarios()] == [
        ("installed_game", 1)
    ]
    env = registry.make("installed_game")  # usable: it plays like any scenario
    env.reset(seed=0)
    env.step(4)
    assert type(env) is cls and env.render_state()["board"][4] == 1
    monkeypatch.delitem(sys.modules, module)
