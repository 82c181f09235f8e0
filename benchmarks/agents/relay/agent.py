"""The ``relay`` benchmark agent: asks ``svc.echo`` ``payload["requests"]`` times, timing each.

Its result is the list of round trips in microseconds, as this agent saw them inside
its sandbox (from writing the request line to reading the answer). Standard library only.
"""

import time


def handle(task, context):
    payload = task["payload"]
    times = []
    for index in range(int(payload.get("requests", 10))):
        start = time.perf_counter()
        answer = context.request("svc.echo", {"i": index}, timeout_ms=5000)
        times.append((time.perf_counter() - start) * 1e6)
        if answer != {"i": index}:
            raise ValueError(f"echo answered {answer!r} to {index}")
    return times
