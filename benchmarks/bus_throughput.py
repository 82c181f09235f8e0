"""Bus throughput and request/response round trips, per backend (memory, Redis, NATS).

**Pub/sub messages per second**: one publisher and one subscriber on one bus; the clock
runs from the first publish until the subscriber has decoded all ``MESSAGES`` envelopes
(each one made, checked, encoded, carried and decoded). With batching on Redis and
NATS: the publisher keeps ``WINDOW`` publishes in flight (``asyncio.gather`` over a
window, so Redis sends them on a pool of connections without waiting for each reply;
nats-py buffers publishes and flushes them together anyway). Memory publishes one by one
(nothing to wait for).

**Request/response round trip**: ``Bus.request`` to a responder on the same bus that
answers with ``Bus.reply``, one at a time; p50 and p99 in microseconds. Each request
subscribes to its own reply channel (on Redis: a pub/sub connection per request).

**Baselines, same run**: memory against a bare ``asyncio.Queue`` put/get loop (and a
queue ping-pong for the round trip); Redis against raw redis-py ``PUBLISH`` of the same
bytes without envelopes (pipelined, same window) to a raw pub/sub reader (and a raw
``PING`` round trip); NATS against raw nats-py publish/subscribe of the same bytes (and a
raw ``nc.request`` round trip to a raw responder). The ratios are what envelopes and the
bus add.

Targets (issue 13): memory >= 200,000 msgs/s; Redis and NATS >= 50,000 msgs/s with
batching. The round trips have no target (set here: p99 under 5 ms on every backend).
A backend whose server is down is reported as ``null``, its figure not met.
Prints one JSON object with ``memory_msgs_per_s``, ``redis_msgs_per_s``,
``nats_msgs_per_s`` and ``<backend>_rtt_us_p50``/``_p99``, and the judged figures.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from _util import Figure, emit, figure, machine, percentile
from devspark.bus import Bus, connect
from devspark.bus.envelope import make

MESSAGES = int(os.environ.get("BUS_BENCH_MESSAGES", "50000"))
REQUESTS = int(os.environ.get("BUS_BENCH_REQUESTS", "2000"))
WINDOW = 64
URLS = {
    "memory": "memory://",
    "redis": os.environ.get("DEVSPARK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "nats": os.environ.get("DEVSPARK_TEST_NATS_URL", "nats://127.0.0.1:4222"),
}
TARGETS = {"memory": 200_000.0, "redis": 50_000.0, "nats": 50_000.0}
RTT_P99_TARGET_US = 5_000.0
PAYLOAD = {"move": 3, "team": "red", "note": "a small message"}
WIRE = make("bench.raw", PAYLOAD).encode()  # the raw baselines carry the same bytes


async def bus_msgs_per_s(bus: Bus, window: int) -> float:
    channel = f"bench.pubsub.{os.getpid()}"
    subscription = await bus.subscribe(channel)
    got = 0

    async def receive() -> None:
        nonlocal got
        while got < MESSAGES and await subscription.get(10) is not None:
            got += 1

    reader = asyncio.create_task(receive())
    start = time.perf_counter()
    if window == 1:
        for sent in range(MESSAGES):
            await bus.publish(channel, PAYLOAD)
            while sent - got > 4096:  # a memory publish never yields: let the reader catch up
                await asyncio.sleep(0)  # (past 10,000 behind, memory:// drops the oldest)
    else:
        for first in range(0, MESSAGES, window):
            await asyncio.gather(
                *(bus.publish(channel, PAYLOAD) for _ in range(min(window, MESSAGES - first)))
            )
            while (
                first - got > 4096
            ):  # stay within the subscriber's buffer (NATS drops past 10,000)
                await asyncio.sleep(0.0005)
    await reader
    elapsed = time.perf_counter() - start
    await subscription.close()
    assert got == MESSAGES, f"{bus.url}: the subscriber got {got} of {MESSAGES}"
    return MESSAGES / elapsed


async def bus_rtt_us(bus: Bus) -> list[float]:
    service = f"bench.svc.{os.getpid()}"
    requests = await bus.subscribe(service)

    async def serve() -> None:
        async for request in requests:
            await bus.reply(request, request.payload)

    server = asyncio.create_task(serve())
    for _ in range(REQUESTS // 10):  # warm up
        await bus.request(service, PAYLOAD, timeout_ms=5000)
    samples = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        await bus.request(service, PAYLOAD, timeout_ms=5000)
        samples.append((time.perf_counter() - start) * 1e6)
    server.cancel()
    await requests.close()
    return samples


async def memory_baselines(_url: str) -> tuple[float, float]:
    """An asyncio.Queue put/get loop (msgs/s) and a two-queue ping-pong p50 (us)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def drain() -> None:
        for _ in range(MESSAGES):
            await queue.get()

    reader = asyncio.create_task(drain())
    start = time.perf_counter()
    for _ in range(MESSAGES):
        queue.put_nowait(WIRE)
        if queue.qsize() > 1000:
            await asyncio.sleep(0)
    await reader
    rate = MESSAGES / (time.perf_counter() - start)
    ping: asyncio.Queue[bytes] = asyncio.Queue()
    pong: asyncio.Queue[bytes] = asyncio.Queue()

    async def echo() -> None:
        while True:
            pong.put_nowait(await ping.get())

    server = asyncio.create_task(echo())
    samples = []
    for _ in range(REQUESTS):
        t = time.perf_counter()
        ping.put_nowait(WIRE)
        await pong.get()
        samples.append((time.perf_counter() - t) * 1e6)
    server.cancel()
    return rate, percentile(samples, 50)


async def redis_baselines(url: str) -> tuple[float, float]:
    """Raw redis-py PUBLISH (pipelined by WINDOW) to a raw reader; raw PING p50."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    channel = f"bench.raw.{os.getpid()}"
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    got = 0

    async def drain() -> None:
        nonlocal got
        while got < MESSAGES:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10)
            if message is None:
                return
            got += 1

    reader = asyncio.create_task(drain())
    start = time.perf_counter()
    for first in range(0, MESSAGES, WINDOW):
        pipe = client.pipeline(transaction=False)
        for _ in range(first, min(MESSAGES, first + WINDOW)):
            pipe.publish(channel, WIRE)
        await pipe.execute()
    await reader
    rate = MESSAGES / (time.perf_counter() - start)
    samples = []
    for _ in range(REQUESTS):
        t = time.perf_counter()
        await client.ping()
        samples.append((time.perf_counter() - t) * 1e6)
    await pubsub.aclose()
    await client.aclose()
    assert got == MESSAGES, f"raw Redis reader got {got} of {MESSAGES}"
    return rate, percentile(samples, 50)


async def nats_baselines(url: str) -> tuple[float, float]:
    """Raw nats-py publish to a raw subscriber; raw nc.request p50 to a raw responder."""
    import nats

    nc = await nats.connect(url)
    done = asyncio.Event()
    got = 0

    async def count(_msg: Any) -> None:
        nonlocal got
        got += 1
        if got == MESSAGES:
            done.set()

    channel = f"bench.raw.{os.getpid()}"
    sub = await nc.subscribe(channel, cb=count, pending_msgs_limit=MESSAGES * 2)
    await nc.flush()
    start = time.perf_counter()
    for _ in range(MESSAGES):
        await nc.publish(channel, WIRE)
    await asyncio.wait_for(done.wait(), 30)
    rate = MESSAGES / (time.perf_counter() - start)
    await sub.unsubscribe()

    async def respond(msg: Any) -> None:
        await msg.respond(msg.data)

    service = f"bench.rawsvc.{os.getpid()}"
    responder = await nc.subscribe(service, cb=respond)
    await nc.flush()
    samples = []
    for _ in range(REQUESTS):
        t = time.perf_counter()
        await nc.request(service, WIRE, timeout=5)
        samples.append((time.perf_counter() - t) * 1e6)
    await responder.unsubscribe()
    await nc.close()
    return rate, percentile(samples, 50)


BASELINES = {"memory": memory_baselines, "redis": redis_baselines, "nats": nats_baselines}
BASELINE_NAMES = {
    "memory": ("bare asyncio.Queue put/get", "asyncio.Queue ping-pong p50"),
    "redis": ("raw redis-py PUBLISH, pipelined, no envelope", "raw redis-py PING p50"),
    "nats": ("raw nats-py publish, no envelope", "raw nats-py request p50"),
}


async def measure(name: str) -> dict[str, Any]:
    url = URLS[name]
    try:
        bus = await connect(url)
    except Exception as exc:  # a server that is down: reported, not met
        print(f"{name}: not measured: {exc}")
        return {"msgs": None, "p50": None, "p99": None, "base_msgs": 0.0, "base_rtt": 0.0}
    async with bus:
        msgs = await bus_msgs_per_s(bus, 1 if name == "memory" else WINDOW)
        rtt = await bus_rtt_us(bus)
    base_msgs, base_rtt = await BASELINES[name](url)
    return {
        "msgs": msgs,
        "p50": percentile(rtt, 50),
        "p99": percentile(rtt, 99),
        "base_msgs": base_msgs,
        "base_rtt": base_rtt,
    }


def main() -> None:
    machine()
    out: dict[str, Any] = {"messages": MESSAGES, "requests": REQUESTS, "window": WINDOW}
    judged: list[Figure] = []
    for name in URLS:
        result = asyncio.run(measure(name))
        out[f"{name}_msgs_per_s"] = result["msgs"]
        out[f"{name}_rtt_us_p50"] = result["p50"]
        out[f"{name}_rtt_us_p99"] = result["p99"]
        out[f"{name}_baseline_msgs_per_s"] = result["base_msgs"]
        out[f"{name}_baseline_rtt_us_p50"] = result["base_rtt"]
        msgs_name, rtt_name = BASELINE_NAMES[name]
        judged.append(
            figure(
                f"{name} pub/sub" + ("" if name == "memory" else " (batched)"),
                result["msgs"],
                "msgs/s",
                target=TARGETS[name],
                better="higher",
                target_source="issue 13",
                baseline=result["base_msgs"],
                baseline_name=msgs_name,
            )
        )
        judged.append(
            figure(
                f"{name} request/response p99",
                result["p99"],
                "us",
                target=RTT_P99_TARGET_US,
                better="lower",
                target_source="set here",
                baseline=result["base_rtt"],
                baseline_name=rtt_name,
            )
        )
    emit(out, judged)


if __name__ == "__main__":
    main()
