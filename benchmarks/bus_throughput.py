"""Bus throughput and request/response round trips, per backend (memory, Redis, NATS).

**Pub/sub messages per second**: one publisher and one subscriber on one bus; the clock
runs from the first publish until the subscriber has decoded all ``MESSAGES`` envelopes
(each one made, checked, encoded, carried, decoded and checked again). The publisher
stays within 4,096 messages of the subscriber (inside every backend's slow-subscriber
buffer, so nothing is dropped).

* ``<backend>_msgs_per_s``: on ``memory://`` one ``Bus.publish`` at a time (nothing to
  batch in one process); on Redis and NATS **with batching**, as the issue's targets
  say: ``Bus.publish_many`` of ``WINDOW`` messages at a time (one JSON-array batch, one
  ``PUBLISH`` or NATS message, one flush on NATS).
* ``memory_batched_msgs_per_s``: ``memory://`` with ``publish_many`` of ``WINDOW``.
* ``<backend>_single_msgs_per_s`` (Redis, NATS; not judged): one ``Bus.publish`` at a
  time, each awaited, for comparison.

**Request/response round trip**: ``Bus.request`` to a responder on the same bus that
answers with ``Bus.reply``, one at a time; p50 and p99 in microseconds. The bus keeps one
reply subscription for all its requests.

**Baselines, same run** (the ratios are what envelopes and the bus add):

* memory: a bare ``asyncio.Queue`` put/get loop, and a queue ping-pong for the round trip;
* Redis: raw redis-py ``PUBLISH`` of the *same wire bytes as the bus's batches*
  (pre-encoded once: no envelope made, checked or decoded), pipelined by ``WINDOW``, to a
  raw pub/sub reader; ``redis_raw_unbatched_msgs_per_s`` is raw redis-py publishing one
  envelope per ``PUBLISH`` (pipelined); the round trip baseline is a raw ``PING``;
* NATS: raw nats-py publish of the same batch bytes to a raw subscriber (and
  ``nats_raw_unbatched_msgs_per_s``: one envelope per message); a raw ``nc.request`` to
  a raw responder for the round trip.

Targets (issue 13): memory >= 200,000 msgs/s; Redis and NATS >= 50,000 msgs/s with
batching. The round trips have no target (set here: p99 under 5 ms on every backend).
A backend whose server is down is reported as ``null``, its figure not met.
Prints one JSON object with ``memory_msgs_per_s``, ``redis_msgs_per_s``,
``nats_msgs_per_s``, ``<backend>_rtt_us_p50``/``_p99`` and the judged figures.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _util import Figure, emit, figure, machine, percentile
from devspark.bus import Bus, connect
from devspark.bus.envelope import encode_batch, make, make_many

MESSAGES = int(os.environ.get("BUS_BENCH_MESSAGES", "50000"))
REQUESTS = int(os.environ.get("BUS_BENCH_REQUESTS", "2000"))
WINDOW = int(os.environ.get("BUS_BENCH_WINDOW", "64"))
AHEAD = 4096  # the publisher's lead on the subscriber, well inside every backlog
URLS = {
    "memory": "memory://",
    "redis": os.environ.get("DEVSPARK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "nats": os.environ.get("DEVSPARK_TEST_NATS_URL", "nats://127.0.0.1:4222"),
}
TARGETS = {"memory": 200_000.0, "redis": 50_000.0, "nats": 50_000.0}
RTT_P99_TARGET_US = 5_000.0
PAYLOAD = {"move": 3, "team": "red", "note": "a small message"}
WIRE = make("bench.raw", PAYLOAD).encode()  # the raw baselines carry the same bytes
(BATCH_WIRE,) = encode_batch(make_many("bench.raw", [PAYLOAD] * WINDOW))  # and batches


async def bus_msgs_per_s(bus: Bus, window: int) -> float:
    """Messages a second from one publisher to one subscriber, ``window`` per publish call.

    ``window == 1``: ``Bus.publish`` each; otherwise ``Bus.publish_many`` of ``window``.
    """
    channel = f"bench.pubsub.{os.getpid()}.{window}"
    subscription = await bus.subscribe(channel)
    got = 0

    async def receive() -> None:
        nonlocal got
        while got < MESSAGES and await subscription.get(10) is not None:
            got += 1

    reader = asyncio.create_task(receive())
    start = time.perf_counter()
    sent = 0
    while sent < MESSAGES:
        if window == 1:
            await bus.publish(channel, PAYLOAD)
            sent += 1
        else:
            count = min(window, MESSAGES - sent)
            await bus.publish_many(channel, [PAYLOAD] * count)
            sent += count
        while sent - got > AHEAD:  # a memory publish never yields: let the reader catch up
            await asyncio.sleep(0 if bus.url.startswith("memory") else 0.0005)
    await reader
    elapsed = time.perf_counter() - start
    await subscription.close()
    assert got == MESSAGES, f"{bus.url}: the subscriber got {got} of {MESSAGES}"
    return MESSAGES / elapsed


async def bus_rtt_us(bus: Bus) -> list[float]:
    """Round trips of ``Bus.request`` to a ``Bus.reply`` responder, in microseconds."""
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


async def memory_baselines(_url: str) -> dict[str, float]:
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
    return {"msgs": rate, "batched": rate, "rtt": percentile(samples, 50)}


async def redis_baselines(url: str) -> dict[str, float]:
    """Raw redis-py PUBLISH (batches, and one envelope each), to a raw reader; raw PING p50."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)

    async def rate(data: bytes, per_message: int) -> float:
        pubsub = client.pubsub()
        channel = f"bench.raw.{os.getpid()}.{per_message}"
        await pubsub.subscribe(channel)
        await pubsub.get_message(timeout=1)  # the subscribe confirmation
        got = 0

        async def drain() -> None:
            nonlocal got
            while got < MESSAGES:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10)
                if message is None:
                    return
                got += per_message

        reader = asyncio.create_task(drain())
        start = time.perf_counter()
        sent = 0
        while sent < MESSAGES:
            pipe = client.pipeline(transaction=False)
            for _ in range(WINDOW // per_message or 1):
                pipe.publish(channel, data)
                sent += per_message
            await pipe.execute()
            while sent - got > AHEAD:
                await asyncio.sleep(0.0005)
        await reader
        elapsed = time.perf_counter() - start
        await pubsub.aclose()
        assert got >= MESSAGES, f"raw Redis reader got {got} of {MESSAGES}"
        return MESSAGES / elapsed

    batched = await rate(BATCH_WIRE, WINDOW)
    single = await rate(WIRE, 1)
    samples = []
    for _ in range(REQUESTS):
        t = time.perf_counter()
        await client.ping()
        samples.append((time.perf_counter() - t) * 1e6)
    await client.aclose()
    return {"msgs": batched, "batched": batched, "single": single, "rtt": percentile(samples, 50)}


async def nats_baselines(url: str) -> dict[str, float]:
    """Raw nats-py publish (batches, and one envelope each); raw nc.request p50."""
    import nats

    nc = await nats.connect(url)

    async def rate(data: bytes, per_message: int) -> float:
        done = asyncio.Event()
        got = 0

        async def count(_msg: Any) -> None:
            nonlocal got
            got += per_message
            if got >= MESSAGES:
                done.set()

        channel = f"bench.raw.{os.getpid()}.{per_message}"
        sub = await nc.subscribe(channel, cb=count, pending_msgs_limit=MESSAGES * 2)
        await nc.flush()
        start = time.perf_counter()
        for _ in range(0, MESSAGES, per_message):
            await nc.publish(channel, data)
        await asyncio.wait_for(done.wait(), 30)
        elapsed = time.perf_counter() - start
        await sub.unsubscribe()
        return MESSAGES / elapsed

    batched = await rate(BATCH_WIRE, WINDOW)
    single = await rate(WIRE, 1)

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
    return {"msgs": batched, "batched": batched, "single": single, "rtt": percentile(samples, 50)}


BASELINES: dict[str, Callable[[str], Awaitable[dict[str, float]]]] = {
    "memory": memory_baselines,
    "redis": redis_baselines,
    "nats": nats_baselines,
}
BASELINE_NAMES = {
    "memory": ("bare asyncio.Queue put/get", "asyncio.Queue ping-pong p50"),
    "redis": (
        f"raw redis-py PUBLISH of the same {WINDOW}-envelope batches, no envelope work",
        "raw redis-py PING p50",
    ),
    "nats": (
        f"raw nats-py publish of the same {WINDOW}-envelope batches, no envelope work",
        "raw nats-py request p50",
    ),
}


async def measure(name: str) -> dict[str, Any]:
    url = URLS[name]
    try:
        bus = await connect(url)
    except Exception as exc:  # a server that is down: reported, not met
        print(f"{name}: not measured: {exc}")
        return {}
    async with bus:
        result: dict[str, Any] = {}
        if name == "memory":
            result["msgs"] = await bus_msgs_per_s(bus, 1)
            result["batched"] = await bus_msgs_per_s(bus, WINDOW)
        else:
            result["msgs"] = await bus_msgs_per_s(bus, WINDOW)
            result["single"] = await bus_msgs_per_s(bus, 1)
        rtt = await bus_rtt_us(bus)
    result["p50"] = percentile(rtt, 50)
    result["p99"] = percentile(rtt, 99)
    result["base"] = await BASELINES[name](url)
    return result


def main() -> None:
    machine()
    out: dict[str, Any] = {"messages": MESSAGES, "requests": REQUESTS, "window": WINDOW}
    judged: list[Figure] = []
    for name in URLS:
        result = asyncio.run(measure(name))
        base = result.get("base", {})
        out[f"{name}_msgs_per_s"] = result.get("msgs")
        out[f"{name}_rtt_us_p50"] = result.get("p50")
        out[f"{name}_rtt_us_p99"] = result.get("p99")
        out[f"{name}_baseline_msgs_per_s"] = base.get("msgs", 0.0)
        out[f"{name}_baseline_rtt_us_p50"] = base.get("rtt", 0.0)
        msgs_name, rtt_name = BASELINE_NAMES[name]
        judged.append(
            figure(
                f"{name} pub/sub" + ("" if name == "memory" else f" (batched by {WINDOW})"),
                result.get("msgs"),
                "msgs/s",
                target=TARGETS[name],
                better="higher",
                target_source="issue 13",
                baseline=base.get("msgs", 0.0),
                baseline_name=msgs_name,
            )
        )
        if name == "memory":
            out["memory_batched_msgs_per_s"] = result.get("batched")
            judged.append(
                figure(
                    f"memory pub/sub (batched by {WINDOW})",
                    result.get("batched"),
                    "msgs/s",
                    target=TARGETS[name],
                    better="higher",
                    target_source="issue 13",
                    baseline=base.get("batched", 0.0),
                    baseline_name=msgs_name,
                )
            )
        else:
            out[f"{name}_single_msgs_per_s"] = result.get("single")
            out[f"{name}_raw_unbatched_msgs_per_s"] = base.get("single")
            print(
                f"{name} unbatched (not judged): bus {result.get('single') or 0:,.0f} msgs/s, "
                f"raw one envelope per message {base.get('single') or 0:,.0f} msgs/s"
            )
        judged.append(
            figure(
                f"{name} request/response p99",
                result.get("p99"),
                "us",
                target=RTT_P99_TARGET_US,
                better="lower",
                target_source="set here",
                baseline=base.get("rtt", 0.0),
                baseline_name=rtt_name,
            )
        )
    emit(out, judged)


if __name__ == "__main__":
    main()
