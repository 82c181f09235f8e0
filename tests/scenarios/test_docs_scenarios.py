"""docs/scenarios.md stays true: every registered built-in has its section."""

from pathlib import Path

import pytest

from devspark.scenarios import ScenarioInfo, list_scenarios

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


@pytest.mark.parametrize("info", list_scenarios(), ids=lambda info: info.full_id)
def test_every_scenario_is_documented_with_an_example(info: ScenarioInfo) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"\n## {info.id}\n" in text, f"docs/scenarios.md has no section for {info.id}"
    assert f"`{info.full_id}`" in text, f"docs/scenarios.md's table lacks {info.full_id}"
    section = text.split(f"\n## {info.id}\n", 1)[1].split("\n## ", 1)[0]
    assert "```" in section, f"the {info.id} section has no rendered example"
