"""The envelope: made and read with errors naming the field; the size limit both ways."""

from __future__ import annotations

import json
import time

import pytest

from devspark.bus.envelope import KINDS, MAX_BYTES, Envelope, make
from devspark.core.errors import InvalidArgumentError


def test_make_fills_defaults_and_round_trips_through_the_wire() -> None:
    envelope = make("team.red", {"move": 3, "note": "héllo"}, sender="agent:ada/bot@1.0.0")
    assert envelope.kind == "event" and envelope.priority == 5 and envelope.ttl_ms is None
    assert len(envelope.id) == 32 and abs(envelope.ts - time.time() * 1000) < 5_000
    assert Envelope.decode(envelope.encode()) == envelope


def test_every_field_round_trips() -> None:
    envelope = make(
        "inbox.bob-1",
        [1, 2.5, None, {"a": "b"}],
        kind="request",
        sender="svc:planner",
        to="agent:bob/bot@2.0.0",
        priority=10,
        correlation_id="c-1",
        reply_to="_reply.abc",
        ttl_ms=500,
    )
    wire = envelope.encode()
    assert Envelope.decode(wire) == envelope
    assert Envelope.decode(wire.decode()) == envelope  # str is read too


def test_the_wire_form_is_compact_json_without_empty_fields() -> None:
    fields = json.loads(make("team.red", "x").encode())
    assert set(fields) == {"id", "kind", "sender", "channel", "payload", "priority", "ts"}


def test_kinds_are_the_five_the_bus_knows() -> None:
    assert KINDS == ("command", "event", "request", "response", "broadcast")
    for kind in KINDS:
        assert make("a", kind=kind).kind == kind


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"kind": "gossip"}, "kind='gossip'"),
        ({"priority": 0}, "priority=0"),
        ({"priority": 11}, "priority=11"),
        ({"ttl_ms": 0}, "ttl_ms=0"),
        ({"sender": "bad sender"}, "sender='bad sender'"),
        ({"to": "bad;to"}, "to='bad;to'"),
        ({"reply_to": "a..b"}, "reply_to='a..b'"),
        ({"reply_to": "team.*"}, "reply_to='team.*'"),
    ],
)
def test_make_names_the_bad_field_and_value(fields: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        make("team.red", "x", **fields)  # type: ignore[arg-type]
    assert str(caught.value).startswith(named)


@pytest.mark.parametrize("channel", ["team.*", "team.>", "", "a..b"])
def test_make_refuses_a_pattern_or_bad_channel(channel: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^channel="):
        make(channel, "x")


def test_encode_refuses_a_payload_that_is_not_json() -> None:
    with pytest.raises(InvalidArgumentError, match="is not JSON"):
        make("team.red", object()).encode()


def test_encode_refuses_an_oversized_envelope_and_says_the_limit() -> None:
    envelope = make("team.red", "x" * MAX_BYTES)
    with pytest.raises(InvalidArgumentError) as caught:
        envelope.encode()
    assert f"at most {MAX_BYTES:,}" in str(caught.value) and "team.red" in str(caught.value)
    small = make("team.red", "x" * 100)
    assert len(small.encode(max_bytes=400)) <= 400
    with pytest.raises(InvalidArgumentError, match="at most 150"):
        small.encode(max_bytes=150)


def test_decode_refuses_an_oversized_message_before_parsing() -> None:
    with pytest.raises(InvalidArgumentError, match=f"at most {MAX_BYTES:,}"):
        Envelope.decode(b"{" * (MAX_BYTES + 1))


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"not json", "message: Invalid JSON"),
        (b"[]", "message: Input should be an object"),
        (b'{"kind": "event"}', "channel: Field required"),
        (b'{"channel": "a", "priority": 99}', "priority:"),
        (b'{"channel": "a", "kind": "gossip"}', "kind:"),
        (b'{"channel": "a.*"}', "channel:"),
        (b'{"channel": "a", "extra": 1}', "extra:"),
    ],
)
def test_decode_names_the_bad_field(data: bytes, named: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        Envelope.decode(data)
    assert str(caught.value).startswith(f"not an envelope: {named}")


def test_envelopes_are_frozen() -> None:
    envelope = make("team.red", "x")
    with pytest.raises(ValueError, match="frozen"):
        envelope.priority = 9  # type: ignore[misc]


def test_expired_counts_from_ts() -> None:
    envelope = Envelope(channel="a", ts=1_000_000.0, ttl_ms=100)
    assert not envelope.expired(now_ms=1_000_100.0)
    assert envelope.expired(now_ms=1_000_100.5)
    assert not Envelope(channel="a", ts=0.0).expired()  # no ttl: never
