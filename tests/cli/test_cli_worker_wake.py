"""``devspark worker`` wakes its host when another process queues a task (over the bus)."""

from __future__ import annotations

from typing import Any

from devspark.cli.worker_cmd import _Wake
from devspark.services.live import LiveHub


class _Notified:
    def __init__(self) -> None:
        self.calls = 0

    def notify(self) -> None:
        self.calls += 1


def test_a_task_queued_elsewhere_wakes_the_worker_and_events_still_reach_the_hub() -> None:
    hub = LiveHub()
    seen: list[dict[str, Any]] = []
    subscription = hub.subscribe("task:1")
    wake = _Wake(hub)
    worker = _Notified()
    wake.worker = worker  # type: ignore[assignment]
    wake.deliver("task:1", {"type": "task.queued", "id": "1"})
    wake.deliver("task:1", {"type": "task.running", "id": "1"})
    while (event := subscription.get_nowait()) is not None:
        seen.append(event)
    assert worker.calls == 1
    assert [e["type"] for e in seen] == ["task.queued", "task.running"]
