"""The ``echo`` service agent: a task's payload comes back as its result.

``echo.slow`` does the same after three progress steps (``{"step": i, "of": 3}``), each
after a short pause (``payload["pause_ms"]``, default 50 ms), for streaming demos.
Standard library only: this file runs inside the sandbox.
"""

import time

STEPS = 3


def handle(task, context):
    payload = task["payload"]
    if task["type"] == "echo.slow":
        pause_ms = payload.get("pause_ms", 50) if isinstance(payload, dict) else 50
        for step in range(1, STEPS + 1):
            time.sleep(min(pause_ms, context.time_left_ms / (STEPS + 1)) / 1000)
            context.progress({"step": step, "of": STEPS})
    return payload
