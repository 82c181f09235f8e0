"""The service-agent examples of docs/agents.md run as written, in both languages."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devspark.arena.agents import resolve_agent
from devspark.bus.tools import SharedMemory
from devspark.sandbox import IsolationLevel, ProcessWorker

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "agents.md"


def examples() -> dict[str, str]:
    """The Python and JavaScript coordinators of the "Service agents" section."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("### Service agents") :]
    section = section[: section.index("\n## ")]
    blocks = re.findall(r"```(python|js)\n(.*?)```", section, flags=re.DOTALL)
    python = [code for lang, code in blocks if lang == "python"]
    js = [code for lang, code in blocks if lang == "js"]
    return {"python": python[0], "javascript": js[0], "worker": python[1]}


class Platform:
    """Answers the coordinator like the hosting runtime would: sub-tasks and sys.memory."""

    def __init__(self) -> None:
        self.memory = SharedMemory()
        self.submits: list[dict[str, Any]] = []

    def on_request(self, line: dict[str, Any]) -> dict[str, Any]:
        if line["type"] == "submit":
            self.submits.append(line)
            return {"ok": True, "payload": len(line["payload"]["text"].split())}
        payload = line["payload"]
        if line["to"] != "sys.memory":
            return {"ok": False, "error": "unknown target"}
        if payload["op"] == "get":
            entry = self.memory.get(payload["space"], payload["key"])
            found = (
                {"value": None, "version": 0}
                if entry is None
                else {
                    "value": entry.value,
                    "version": entry.version,
                }
            )
            return {"ok": True, "payload": found}
        version = self.memory.put(
            payload["space"],
            payload["key"],
            payload["value"],
            expected_version=payload["expected_version"],
        )
        return {"ok": True, "payload": {"version": version}}


@pytest.mark.parametrize("language", ["python", "javascript"])
def test_the_coordinator_example_runs(make_agent: Callable[..., Path], language: str) -> None:
    folder = make_agent(examples()[language], name=f"coordinator-{language}", language=language)
    worker = ProcessWorker(resolve_agent(str(folder)), level=IsolationLevel.PROCESS)
    platform, progress = Platform(), []
    try:
        worker.start()
        for n in (1, 2):
            outcome = worker.serve(
                {"id": f"t{n}", "type": "summary.count", "payload": {"text": "a b\n\nc d e"}},
                timeout_ms=5000,
                on_progress=progress.append,
                on_request=platform.on_request,
            )
            assert outcome.ok, outcome
            assert outcome.result == {"words": 5, "task": f"t{n}"}
    finally:
        worker.close()
    assert progress == [{"done": 1, "of": 2}, {"done": 2, "of": 2}] * 2
    assert [line["task_type"] for line in platform.submits] == ["summary.words"] * 4
    entry = platform.memory.get("stats", "words")
    assert entry is not None and (entry.value, entry.version) == (10, 2)


def test_the_worker_example_counts_words(make_agent: Callable[..., Path]) -> None:
    worker = ProcessWorker(
        resolve_agent(str(make_agent(examples()["worker"], name="words"))),
        level=IsolationLevel.PROCESS,
    )
    try:
        worker.start()
        outcome = worker.serve(
            {"id": "t1", "type": "summary.words", "payload": {"text": "one two three"}},
            timeout_ms=5000,
            on_progress=lambda data: None,
            on_request=lambda line: {"ok": False, "error": "unknown target"},
        )
    finally:
        worker.close()
    assert (outcome.ok, outcome.result) == (True, 3)
