"""Conformance kit for bus backends: ``check_bus("redis://127.0.0.1:6379/0")``.

Connects with :func:`devspark.bus.connect` and checks every pattern the bus promises,
on its own event loop, with channel and queue names unique to the run (so runs on a
shared Redis or NATS never collide):

* **pub/sub**: an exact channel; ``*`` matches exactly one token (not two, not zero);
  ``>`` matches one or more tokens (not zero); two subscribers both get a message; a
  closed subscription receives nothing;
* **direct** messages (``send``/``listen``) reach only their addressee; **broadcasts**
  reach every listener;
* **batches**: ``publish_many`` delivers every message of a batch, unchanged and in
  order, also when the batch is larger than ``max_bytes``; a batch with one bad or
  oversized message is refused whole at its sender; ``send_envelopes`` keeps order
  across channels and an expired message in a batch is dropped; a wire batch (a JSON
  array) with bad elements delivers the good ones and counts the others in ``dropped``;
* **request/response** answers each request with its own correlation id and payload
  (ten at once, answered in reverse order); an answer that comes after its request
  timed out never answers a later request, even one with the same correlation id; a
  request nobody answers raises :class:`~devspark.core.errors.DeadlineExceededError`
  close to its timeout;
* **envelopes**: a malformed or oversized one is refused at its sender with
  :class:`~devspark.core.errors.InvalidArgumentError`; raw bytes that are not an
  envelope, published on the transport, are dropped and counted
  (:attr:`~devspark.bus.core.Subscription.dropped`), never raised;
* **work queues**: enqueue/take/ack (never delivered again); redelivery after the
  visibility timeout (attempt 2); ``nack`` redelivers at once; after ``max_attempts``
  deliveries the message lands in ``<queue>.dead``; two consumers never hold one
  message at once;
* **ttl**: an expired message is not delivered, on a channel or a queue.

Negative checks wait on events, not sleeps: the message that must not arrive is
published first, then one that must; the first received has to be the second.
Each backend takes a few seconds (visibility timeouts of 200 ms).

Failures raise :class:`AssertionError` naming the URL and the check.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from devspark.bus import Bus, Envelope, Subscription, connect, dead_letters, make
from devspark.bus.core import BROADCAST
from devspark.core.errors import DeadlineExceededError, InvalidArgumentError

WAIT_S = 3.0
"""How long a check waits for a message that must arrive."""

QUIET_S = 0.1
"""How long a check waits to see that nothing more arrives."""

VISIBILITY_MS = 200
"""The visibility timeout of the queue checks."""

MAX_ATTEMPTS = 2
"""Deliveries before dead-lettering, for the dead-letter check."""

BATCH = 100
"""Messages in the batch of the ``publish_many`` check."""

CHECK_TIMEOUT_S = 15.0
"""A check running longer than this fails (a backend that hangs)."""


class _CheckFailedError(Exception):
    """A check's own failure (turned into an AssertionError naming the check)."""


def _expect(condition: bool, detail: str) -> None:
    if not condition:
        raise _CheckFailedError(detail)


class _Run:
    """One run of the kit: the bus, a unique prefix, and helpers shared by the checks."""

    def __init__(self, bus: Bus, url: str) -> None:
        self.bus = bus
        self.url = url
        self.prefix = f"chk{uuid.uuid4().hex[:12]}"
        self._names = 0

    def name(self, *tokens: str) -> str:
        """A channel or queue name unique to this run."""
        self._names += 1
        return ".".join((self.prefix, f"n{self._names}", *tokens))

    async def first(self, subscription: Subscription, what: str) -> Envelope:
        """The next envelope of ``subscription``, or a failure after :data:`WAIT_S`."""
        envelope = await subscription.get(WAIT_S)
        _expect(envelope is not None, f"{what} did not arrive within {WAIT_S:g} s")
        assert envelope is not None  # for the type checker
        return envelope

    async def until(self, subscription: Subscription, token: str, what: str) -> Envelope:
        """The first envelope whose payload is ``token`` (others on shared channels skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while (left := deadline - loop.time()) > 0:
            envelope = await subscription.get(left)
            if envelope is not None and envelope.payload == token:
                return envelope
        raise _CheckFailedError(f"{what} did not arrive within {WAIT_S:g} s")

    async def only_after(self, pattern: str, wrong: list[str], right: str, rule: str) -> None:
        """Publish on the ``wrong`` channels then on ``right``: ``right`` must come first."""
        async with await self.bus.subscribe(pattern) as subscription:
            for channel in wrong:
                await self.bus.publish(channel, "wrong")
            await self.bus.publish(right, "right")
            envelope = await self.first(subscription, f"a message on {right!r} ({pattern!r})")
            _expect(
                envelope.channel == right,
                f"{pattern!r} received a message on {envelope.channel!r}: {rule}",
            )


# ---------------------------------------------------------------------- pub/sub


async def _exact(run: _Run) -> None:
    channel = run.name("exact")
    await run.only_after(channel, [channel + "x", run.name("other")], channel, "no wildcard")
    async with await run.bus.subscribe(channel) as subscription:
        sent = await run.bus.publish(
            channel,
            {"n": 1, "text": "héllo", "list": [1, 2.5, None]},
            sender="agent:ada/bot@1.0.0",
            priority=7,
            correlation_id="c-1",
            ttl_ms=60_000,
        )
        got = await run.first(subscription, "a message on an exact channel")
        _expect(got == sent, f"the envelope changed on the way: sent {sent!r}, got {got!r}")


async def _star_one_token(run: _Run) -> None:
    base = run.name("team")
    await run.only_after(
        base + ".*", [base + ".red.moves"], base + ".red", "'*' matched two tokens"
    )


async def _star_not_zero(run: _Run) -> None:
    base = run.name("team")
    await run.only_after(base + ".*", [base], base + ".blue", "'*' matched zero tokens")


async def _star_inside(run: _Run) -> None:
    base = run.name("team")
    await run.only_after(
        base + ".*.moves",
        [base + ".red.chat", base + ".red.x.moves"],
        base + ".red.moves",
        "'*' inside a pattern matched the wrong channel",
    )


async def _gt_not_zero(run: _Run) -> None:
    base = run.name("team")
    await run.only_after(base + ".>", [base], base + ".red", "'>' matched zero tokens")


async def _gt_one_or_more(run: _Run) -> None:
    base = run.name("team")
    async with await run.bus.subscribe(base + ".>") as subscription:
        channels = [base + ".red", base + ".red.moves", base + ".a.b.c"]
        for channel in channels:
            await run.bus.publish(channel, "x")
        got = [(await run.first(subscription, f"a message on {c!r}")).channel for c in channels]
        _expect(got == channels, f"'>' received {got}, expected {channels}")


async def _two_subscribers(run: _Run) -> None:
    channel = run.name("fanout")
    first = await run.bus.subscribe(channel)
    second = await run.bus.subscribe(run.prefix + ".>")
    try:
        sent = await run.bus.publish(channel, "both")
        one = await run.first(first, "the message to the first subscriber")
        two = await run.first(second, "the message to the second subscriber")
        _expect(one.id == two.id == sent.id, "the two subscribers got different messages")
    finally:
        await first.close()
        await second.close()


async def _closed_subscription(run: _Run) -> None:
    channel = run.name("closed")
    closed = await run.bus.subscribe(channel)
    open_ = await run.bus.subscribe(channel)
    try:
        await closed.close()
        await run.bus.publish(channel, "after close")
        await run.first(open_, "the message to the subscription left open")
        late = await closed.get(QUIET_S)
        _expect(late is None, f"a closed subscription received {late!r}")
    finally:
        await open_.close()


# ---------------------------------------------------------------------- batches


async def _publish_many(run: _Run) -> None:
    channel = run.name("batch")
    async with await run.bus.subscribe(channel) as subscription:
        sent = await run.bus.publish_many(
            channel, [{"n": n} for n in range(BATCH)], sender="agent:ada/bot@1.0.0", priority=8
        )
        _expect(len(sent) == BATCH, f"publish_many returned {len(sent)} envelopes for {BATCH}")
        got = [await run.first(subscription, f"batch message {n}") for n in range(BATCH)]
        _expect(
            got == sent,
            "a batch arrived changed or out of order: "
            f"payloads {[g.payload for g in got][:5]}..., ids match "
            f"{sum(g.id == s.id for g, s in zip(got, sent, strict=True))} of {BATCH}",
        )
        _expect(len({e.id for e in sent}) == BATCH, "a batch's envelopes share an id")


async def _publish_many_over_the_limit(run: _Run) -> None:
    channel = run.name("bigbatch")
    async with await run.bus.subscribe(channel) as subscription:
        chunk = "x" * (run.bus.max_bytes * 2 // 5)  # two fit in one wire message, three do not
        sent = await run.bus.publish_many(channel, [f"{n}{chunk}" for n in range(5)])
        got = [await run.first(subscription, f"large batch message {n}") for n in range(5)]
        _expect(
            [g.id for g in got] == [s.id for s in sent],
            f"a batch larger than max_bytes arrived as {[str(g.payload)[:1] for g in got]}",
        )


async def _publish_many_refused_whole(run: _Run) -> None:
    channel = run.name("refused")
    async with await run.bus.subscribe(channel) as subscription:
        oversized = "x" * (run.bus.max_bytes + 1)
        cases: list[tuple[str, Callable[[], Awaitable[object]], str]] = [
            (
                "a batch with one oversized message",
                lambda: run.bus.publish_many(channel, ["ok", oversized, "ok"]),
                "bytes",
            ),
            (
                "a batch with a payload that is not JSON",
                lambda: run.bus.publish_many(channel, ["ok", object()]),
                "JSON",
            ),
            (
                "a batch with priority=0",
                lambda: run.bus.publish_many(channel, ["ok"], priority=0),
                "priority",
            ),
            ("a batch on channel 'a.*'", lambda: run.bus.publish_many("a.*", ["ok"]), "channel"),
        ]
        for what, send, field in cases:
            try:
                await send()
            except InvalidArgumentError as exc:
                _expect(field in str(exc), f"{what} was refused without naming {field!r}: {exc}")
                continue
            raise _CheckFailedError(f"{what} was sent instead of refused with InvalidArgumentError")
        await run.bus.publish(channel, "after")
        got = await run.first(subscription, "a message after the refused batches")
        _expect(got.payload == "after", f"part of a refused batch was sent: {got.payload!r:.40}")


async def _send_envelopes_mixed(run: _Run) -> None:
    base = run.name("mixed")
    async with await run.bus.subscribe(base + ".>") as subscription:
        envelopes = [
            make(f"{base}.{colour}", n, kind="command")
            for n, colour in enumerate(["red", "red", "blue", "red", "blue", "blue"])
        ]
        stale = Envelope(
            channel=base + ".red", payload="stale", ts=time.time() * 1000 - 10_000, ttl_ms=1000
        )
        await run.bus.send_envelopes([*envelopes[:3], stale, *envelopes[3:]])
        got = [await run.first(subscription, f"mixed batch message {n}") for n in range(6)]
        _expect(
            [(g.channel, g.payload) for g in got] == [(e.channel, e.payload) for e in envelopes],
            f"send_envelopes on two channels arrived as {[(g.channel[-4:], g.payload) for g in got]}",
        )
        _expect(
            subscription.dropped == 1,
            f"an expired message in a batch: dropped is {subscription.dropped}",
        )


async def _raw_batch_with_garbage(run: _Run) -> None:
    channel = run.name("rawbatch")
    async with await run.bus.subscribe(channel) as subscription:
        one, two = make(channel, 1), make(channel, 2)
        batch = b"[" + b",".join([one.encode(), b'{"kind": "event"}', b"7", two.encode()]) + b"]"
        await run.bus.transport.publish(channel, batch)
        await run.bus.transport.publish(channel, b"[not json")
        got = [await run.first(subscription, f"good message {n} of a bad batch") for n in (1, 2)]
        _expect(
            [g.id for g in got] == [one.id, two.id],
            f"a batch with bad elements gave {[g.payload for g in got]} instead of [1, 2]",
        )
        await run.bus.publish(channel, "after")
        await run.first(subscription, "a message after a broken batch")
        _expect(
            subscription.dropped == 3,
            f"bad batch elements: Subscription.dropped is {subscription.dropped}, expected 3",
        )


# ---------------------------------------------------------------------- direct, broadcast


async def _direct(run: _Run) -> None:
    ada, bob = f"agent:{run.prefix}/ada-1", f"agent:{run.prefix}/bob-1"
    inbox_bob = await run.bus.listen(bob)
    try:
        await run.bus.send(ada, "for ada")
        sent = await run.bus.send(bob, {"move": 3}, sender=ada)
        got = await run.first(inbox_bob, "a direct message")
        _expect(got.id == sent.id, f"bob's inbox received {got.payload!r} (sent to {got.to!r})")
        _expect(
            got.kind == "command" and got.to == bob and got.sender == ada,
            f"a direct message arrived as kind={got.kind!r} to={got.to!r} sender={got.sender!r}",
        )
    finally:
        await inbox_bob.close()


async def _broadcast(run: _Run) -> None:
    listeners = [await run.bus.subscribe(BROADCAST) for _ in range(2)]
    token = run.name("news")
    try:
        await run.bus.broadcast(token)
        for index, listener in enumerate(listeners):
            got = await run.until(listener, token, f"the broadcast to listener {index + 1}")
            _expect(got.kind == "broadcast", f"a broadcast arrived as kind={got.kind!r}")
    finally:
        for listener in listeners:
            await listener.close()


# ---------------------------------------------------------------------- request/response


async def _request_response(run: _Run) -> None:
    service = run.name("svc")
    requests = await run.bus.subscribe(service)
    try:

        async def serve() -> None:
            first = await run.first(requests, "the first request")
            second = await run.first(requests, "the second request")
            for request in (second, first):  # answered out of order
                _expect(request.kind == "request", f"a request arrived as kind={request.kind!r}")
                await run.bus.reply(request, {"echo": request.payload})

        server = asyncio.create_task(serve())
        answers = await asyncio.gather(
            run.bus.request(service, "one", timeout_ms=int(WAIT_S * 1000), correlation_id="c-one"),
            run.bus.request(service, "two", timeout_ms=int(WAIT_S * 1000), correlation_id="c-two"),
        )
        await server
        for answer, word in zip(answers, ("one", "two"), strict=True):
            _expect(
                answer.kind == "response"
                and answer.correlation_id == f"c-{word}"
                and answer.payload == {"echo": word},
                f"the request {word!r} was answered with kind={answer.kind!r} "
                f"correlation_id={answer.correlation_id!r} payload={answer.payload!r}",
            )
    finally:
        await requests.close()


async def _requests_concurrent(run: _Run) -> None:
    service = run.name("svc")
    requests = await run.bus.subscribe(service)
    count = 10
    try:

        async def serve() -> None:
            asked = [await run.first(requests, f"request {n}") for n in range(count)]
            for request in reversed(asked):
                await run.bus.reply(request, request.payload * 10)

        server = asyncio.create_task(serve())
        answers = await asyncio.gather(
            *(run.bus.request(service, n, timeout_ms=int(WAIT_S * 1000)) for n in range(count))
        )
        await server
        got = [answer.payload for answer in answers]
        _expect(got == [n * 10 for n in range(count)], f"{count} concurrent requests got {got}")
    finally:
        await requests.close()


async def _late_response_ignored(run: _Run) -> None:
    service = run.name("svc")
    requests = await run.bus.subscribe(service)
    try:
        try:
            await run.bus.request(  # a long ttl: the service still sees it after the timeout
                service, "first", timeout_ms=200, correlation_id="same", ttl_ms=60_000
            )
        except DeadlineExceededError:
            pass
        else:
            raise _CheckFailedError("a request nobody answered yet was answered")
        late = await run.first(requests, "the first request")
        second = asyncio.create_task(
            run.bus.request(service, "second", timeout_ms=int(WAIT_S * 1000), correlation_id="same")
        )
        current = await run.first(requests, "the second request")
        await run.bus.reply(late, "late answer to the first")
        await run.bus.reply(current, "answer to the second")
        answer = await second
        _expect(
            answer.payload == "answer to the second",
            f"a request got the late answer to an earlier one: {answer.payload!r}",
        )
    finally:
        await requests.close()


async def _request_timeout(run: _Run) -> None:
    timeout_ms = 300
    start = time.perf_counter()
    try:
        answer = await run.bus.request(run.name("nobody"), "anyone?", timeout_ms=timeout_ms)
    except DeadlineExceededError:
        elapsed = time.perf_counter() - start
        _expect(
            timeout_ms / 1000 * 0.9 <= elapsed <= timeout_ms / 1000 + 1.0,
            f"DeadlineExceededError after {elapsed * 1000:.0f} ms for a {timeout_ms} ms timeout",
        )
        return
    raise _CheckFailedError(f"a request nobody serves was answered: {answer!r}")


# ---------------------------------------------------------------------- envelopes


async def _refused_at_sender(run: _Run) -> None:
    channel = run.name("big")
    oversized = "x" * (run.bus.max_bytes + 1)
    cases: list[tuple[str, Callable[[], Awaitable[object]], str]] = [
        ("an oversized publish", lambda: run.bus.publish(channel, oversized), "bytes"),
        ("an oversized enqueue", lambda: run.bus.enqueue(channel, oversized), "bytes"),
        ("priority=11", lambda: run.bus.publish(channel, "p", priority=11), "priority"),
        ("kind='gossip'", lambda: run.bus.publish(channel, "k", kind="gossip"), "kind"),
        ("channel 'a..b'", lambda: run.bus.publish("a..b", "c"), "channel"),
        ("a payload that is not JSON", lambda: run.bus.publish(channel, object()), "JSON"),
    ]
    for what, send, field in cases:
        try:
            await send()
        except InvalidArgumentError as exc:
            _expect(field in str(exc), f"{what} was refused without naming {field!r}: {exc}")
            continue
        raise _CheckFailedError(f"{what} was sent instead of refused with InvalidArgumentError")


async def _raw_garbage_dropped(run: _Run) -> None:
    channel = run.name("raw")
    async with await run.bus.subscribe(channel) as subscription:
        garbage = [b"not json", b'{"kind": "event"}', b"\xff\xfe", b"[]"]
        for data in garbage:
            await run.bus.transport.publish(channel, data)
        sent = await run.bus.publish(channel, "good")
        got = await run.first(subscription, "an envelope after raw garbage")
        _expect(got.id == sent.id, f"received {got!r} instead of the envelope after the garbage")
        _expect(
            subscription.dropped == len(garbage),
            f"Subscription.dropped is {subscription.dropped}, expected {len(garbage)}",
        )


# ---------------------------------------------------------------------- work queues


async def _take(run: _Run, queue: str, what: str, visibility_ms: int = VISIBILITY_MS) -> Any:
    delivery = await run.bus.take(queue, visibility_ms=visibility_ms, timeout_s=WAIT_S)
    _expect(delivery is not None, f"{what}: nothing to take within {WAIT_S:g} s")
    return delivery


async def _nothing(run: _Run, queue: str, what: str, wait_s: float) -> None:
    delivery = await run.bus.take(queue, visibility_ms=VISIBILITY_MS, timeout_s=wait_s)
    if delivery is not None:
        await delivery.ack()
        raise _CheckFailedError(
            f"{what}: took attempt {delivery.attempt} of {delivery.envelope.payload!r}"
        )


async def _queue_ack(run: _Run) -> None:
    queue = run.name("q")
    sent = await run.bus.enqueue(queue, {"job": 1})
    delivery = await _take(run, queue, "an enqueued message")
    _expect(
        delivery.envelope == sent and delivery.attempt == 1,
        f"took attempt {delivery.attempt} of {delivery.envelope!r}, sent {sent!r}",
    )
    await delivery.ack()
    await _nothing(run, queue, "an acknowledged message came back", 2.5 * VISIBILITY_MS / 1000)


async def _queue_redelivery(run: _Run) -> None:
    queue = run.name("q")
    sent = await run.bus.enqueue(queue, "work")
    first = await _take(run, queue, "the first delivery")
    second = await _take(run, queue, "the redelivery after the visibility timeout")
    _expect(
        second.envelope.id == sent.id and (first.attempt, second.attempt) == (1, 2),
        f"after the visibility timeout took attempt {second.attempt} of "
        f"{second.envelope.payload!r} (first was attempt {first.attempt})",
    )
    await second.ack()


async def _queue_nack(run: _Run) -> None:
    queue = run.name("q")
    sent = await run.bus.enqueue(queue, "retry me")
    first = await _take(run, queue, "the first delivery", visibility_ms=60_000)
    await first.nack()
    loop = asyncio.get_running_loop()
    start = loop.time()
    second = await _take(run, queue, "the delivery after nack", visibility_ms=60_000)
    _expect(
        second.envelope.id == sent.id and second.attempt == 2,
        f"after nack took attempt {second.attempt} of {second.envelope.payload!r}",
    )
    await second.ack()
    _expect(loop.time() - start < WAIT_S, "nack did not redeliver at once")


async def _dead_letter(run: _Run) -> None:
    queue = run.name("q")
    sent = await run.bus.enqueue(queue, "poison")
    for attempt in range(1, run.bus.max_attempts + 1):
        delivery = await _take(run, queue, f"delivery {attempt}")
        _expect(delivery.attempt == attempt, f"delivery {attempt} says attempt {delivery.attempt}")
        await delivery.nack()
    await _nothing(run, queue, f"a message nacked {run.bus.max_attempts} times", 0.3)
    dead = await _take(run, dead_letters(queue), f"the message in {dead_letters(queue)!r}")
    _expect(
        dead.envelope.id == sent.id,
        f"{dead_letters(queue)!r} holds {dead.envelope!r}, not the poison message",
    )
    await dead.ack()


async def _competing_consumers(run: _Run, other: Bus) -> None:
    queue = run.name("q")
    sent = {(await run.bus.enqueue(queue, index)).id for index in range(20)}
    held: list[list[Any]] = [[], []]

    async def consume(bus: Bus, into: list[Any]) -> None:
        while True:
            delivery = await bus.take(queue, visibility_ms=30_000, timeout_s=0.5)
            if delivery is None:
                return
            into.append(delivery)  # held, not acknowledged, until both are done

    await asyncio.gather(consume(run.bus, held[0]), consume(other, held[1]))
    ids = [{d.envelope.id for d in mine} for mine in held]
    for mine in held:
        for delivery in mine:
            await delivery.ack()
    _expect(not ids[0] & ids[1], f"two consumers both held {len(ids[0] & ids[1])} messages")
    _expect(
        ids[0] | ids[1] == sent and len(held[0]) + len(held[1]) == len(sent),
        f"two consumers took {len(held[0])}+{len(held[1])} messages of {len(sent)}",
    )


# ---------------------------------------------------------------------- ttl


async def _ttl(run: _Run) -> None:
    channel = run.name("ttl")
    stale = Envelope(channel=channel, payload="stale", ts=time.time() * 1000 - 10_000, ttl_ms=1000)
    async with await run.bus.subscribe(channel) as subscription:
        await run.bus.send_envelope(stale)
        await run.bus.publish(channel, "fresh", ttl_ms=60_000)
        got = await run.first(subscription, "a fresh message after an expired one")
        _expect(got.payload == "fresh", f"an expired message was delivered: {got!r}")
    queue = run.name("q")
    stale = Envelope(channel=queue, payload="stale", ts=time.time() * 1000 - 10_000, ttl_ms=1000)
    await run.bus.transport.enqueue(queue, stale.encode(), stale.priority)
    await _nothing(run, queue, "an expired queue message was delivered", 0.3)


# ---------------------------------------------------------------------- the kit

_Check = Callable[[_Run], Awaitable[None]]

CHECKS: tuple[tuple[str, _Check], ...] = (
    ("exact pub/sub", _exact),
    ("wildcard '*' one token", _star_one_token),
    ("wildcard '*' not zero tokens", _star_not_zero),
    ("wildcard '*' inside a pattern", _star_inside),
    ("wildcard '>' not zero tokens", _gt_not_zero),
    ("wildcard '>' one or more tokens", _gt_one_or_more),
    ("two subscribers", _two_subscribers),
    ("closed subscription", _closed_subscription),
    ("publish_many in order", _publish_many),
    ("publish_many over max_bytes", _publish_many_over_the_limit),
    ("publish_many refused whole", _publish_many_refused_whole),
    ("send_envelopes on several channels", _send_envelopes_mixed),
    ("batch with bad elements", _raw_batch_with_garbage),
    ("direct send/listen", _direct),
    ("broadcast", _broadcast),
    ("request/response", _request_response),
    ("request/response concurrent", _requests_concurrent),
    ("request/response late answer ignored", _late_response_ignored),
    ("request timeout", _request_timeout),
    ("envelope refused at sender", _refused_at_sender),
    ("non-envelope dropped and counted", _raw_garbage_dropped),
    ("queue enqueue/take/ack", _queue_ack),
    ("queue redelivery after visibility timeout", _queue_redelivery),
    ("queue nack", _queue_nack),
    ("queue dead letter", _dead_letter),
    ("ttl", _ttl),
)
"""Every check but the competing consumers (which need a second connection), in order."""


def check_bus(url: str) -> None:
    """Check that the bus backend at ``url`` keeps every promise of the bus.

    Runs its own event loop (call it from synchronous code, such as a test). Uses names
    unique to the run, so it may run against a shared Redis or NATS.

    Args:
        url: A bus URL, as :func:`devspark.bus.connect` takes it (``memory://``,
            ``redis://127.0.0.1:6379/0``, ``nats://127.0.0.1:4222``).

    Raises:
        AssertionError: A check failed (or the backend could not be reached); the
            message names the URL and the check.

    """
    asyncio.run(_check_all(url))


async def _check_all(url: str) -> None:
    bus = await _connect(url, "connect")
    try:
        run = _Run(bus, bus.url)
        for name, check in CHECKS:
            await _one(run, name, check(run))
        other = bus if _private_memory(url) else await _connect(url, "second connection")
        try:
            await _one(run, "two consumers", _competing_consumers(run, other))
        finally:
            if other is not bus:
                await other.close()
    finally:
        await bus.close()


async def _connect(url: str, what: str) -> Bus:
    try:
        return await connect(url, max_attempts=MAX_ATTEMPTS)
    except Exception as exc:
        raise AssertionError(f"check_bus({url}): {what}: {exc}") from exc


def _private_memory(url: str) -> bool:
    """``memory://`` without a name: a second connect would get a different broker."""
    parts = urlsplit(url)
    return parts.scheme.lower() == "memory" and not parts.netloc


async def _one(run: _Run, name: str, check: Awaitable[None]) -> None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await check
    except _CheckFailedError as exc:
        raise AssertionError(f"check_bus({run.url}): {name}: {exc}") from None
    except TimeoutError as exc:
        raise AssertionError(
            f"check_bus({run.url}): {name}: still running after {CHECK_TIMEOUT_S:g} s"
        ) from exc
    except Exception as exc:
        raise AssertionError(
            f"check_bus({run.url}): {name}: raised {type(exc).__name__}: {exc}"
        ) from exc


__all__ = ["CHECKS", "check_bus"]
