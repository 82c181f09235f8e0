from __future__ import annotations

from pathlib import Path

import pytest

from devspark.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from devspark.evolution.lineage import Individual, Lineage


def _ind(ident: str, parents: tuple[str, ...] = (), fitness: float | None = None) -> Individual:
    generation = int(ident[1])
    return Individual(
        ident, generation, (0.5, 2.0), {"x": 0.5, "mode": "b"}, parents,
        ("tournament", "mutation:gaussian") if parents else ("init",), fitness,
    )  # fmt: skip


def _family() -> Lineage:
    return Lineage(
        [
            _ind("g0-0", fitness=1.0), _ind("g0-1", fitness=2.0), _ind("g0-2", fitness=0.5),
            _ind("g1-0", ("g0-0", "g0-1"), 3.0), _ind("g1-1", ("g0-2",), 1.5),
            _ind("g2-0", ("g1-0", "g1-1")), _ind("g2-1", ("g1-0",)),
        ]
    )  # fmt: skip


def test_ancestors_are_nearest_first_each_once() -> None:
    lineage = _family()
    assert [i.id for i in lineage.ancestors("g2-0")] == ["g1-0", "g1-1", "g0-0", "g0-1", "g0-2"]
    assert [i.id for i in lineage.ancestors("g2-1")] == ["g1-0", "g0-0", "g0-1"]
    assert lineage.ancestors("g0-1") == []
    assert [i.id for i in lineage.parents("g1-0")] == ["g0-0", "g0-1"]


def test_best_is_the_highest_evaluated_fitness() -> None:
    best = _family().best()
    assert best is not None and best.id == "g1-0"
    assert Lineage([_ind("g0-0")]).best() is None


def test_unknown_and_duplicate_ids_are_refused() -> None:
    lineage = _family()
    with pytest.raises(
        NotFoundError, match=r"individual 'g1-00' is not in the lineage \(did you mean `g1-0`"
    ):
        lineage.get("g1-00")
    with pytest.raises(ConflictError, match="individual 'g0-0' is already in the lineage"):
        lineage.add(_ind("g0-0"))


def test_evaluated_keeps_a_running_mean() -> None:
    ind = _ind("g0-0").evaluated(1.0).evaluated(2.0).evaluated(6.0, novelty=0.25)
    assert ind.fitness == 3.0 and ind.evaluations == 3 and ind.novelty == 0.25
    with pytest.raises(
        InvalidArgumentError, match=r"individual 'g0-0': fitness = nan; allowed: a finite number"
    ):
        ind.evaluated(float("nan"))


def test_save_and_load_json_lines_round_trip(tmp_path: Path) -> None:
    lineage = _family()
    lineage.update(lineage.get("g0-0").evaluated(0.1 + 0.2))
    path = tmp_path / "lineage.jsonl"
    lineage.save(path)
    assert len(path.read_text().splitlines()) == len(lineage)
    loaded = Lineage.load(path)
    assert list(loaded) == list(lineage)
    assert [i.id for i in loaded.ancestors("g2-0")] == [i.id for i in lineage.ancestors("g2-0")]


def test_load_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "lineage.jsonl"
    good = '{"id":"g0-0","generation":0,"genes":[1.0],"params":{"x":1.0},"parents":[],"operators":["init"],"fitness":null,"evaluations":0,"novelty":null}'
    path.write_text(good + "\n" + good.replace('"fitness":null,', "") + "\n")
    with pytest.raises(
        InvalidArgumentError, match=r"lineage.jsonl:2: individual: field 'fitness' is required"
    ):
        Lineage.load(path)
    path.write_text("not json\n")
    with pytest.raises(InvalidArgumentError, match=r"lineage.jsonl:1: Expecting value"):
        Lineage.load(path)
