"""The envelope: made and read with errors naming the field; the size limit both ways."""

from __future__ import annotations

import json
import time

import pytest

from devspark.bus.envelope import (
    KINDS,
    MAX_BYTES,
    Envelope,
    encode_batch,
    is_batch,
    make,
    make_many,
    new_id,
    pack,
    unpack,
)
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


@pytest.mark.parametrize(
    "fields",
    [{"channel": "team.red\n"}, {"sender": "ada\n"}, {"to": "bob\n"}, {"reply_to": "a\n"}],
)
def test_a_trailing_newline_is_refused_everywhere(fields: dict[str, str]) -> None:
    with pytest.raises(InvalidArgumentError, match=r"\\n"):
        make(**{"channel": "team.red", **fields})  # type: ignore[arg-type]


def test_ids_are_32_hex_characters_and_do_not_repeat() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_make_many_shares_the_fields_and_names_a_bad_one() -> None:
    envelopes = make_many("team.red", [1, "two", {"three": 3}], sender="svc:a", priority=9)
    assert [e.payload for e in envelopes] == [1, "two", {"three": 3}]
    assert {(e.channel, e.sender, e.priority, e.kind) for e in envelopes} == {
        ("team.red", "svc:a", 9, "event")
    }
    assert len({e.id for e in envelopes}) == 3
    with pytest.raises(InvalidArgumentError, match=r"^priority=0"):
        make_many("team.red", [1], priority=0)
    with pytest.raises(InvalidArgumentError, match=r"^channel='team\.\*'"):
        make_many("team.*", [1])


def test_encode_batch_is_one_json_array_when_it_fits() -> None:
    envelopes = make_many("team.red", range(5))
    (wire,) = encode_batch(envelopes)
    assert wire == b"[" + b",".join(e.encode() for e in envelopes) + b"]"
    assert encode_batch(envelopes[:1]) == [envelopes[0].encode()]  # one travels as itself


def test_encode_batch_splits_at_the_limit_and_keeps_order() -> None:
    envelopes = make_many("team.red", [f"{n}" + "x" * 300 for n in range(7)])
    wires = encode_batch(envelopes, max_bytes=1000)
    assert len(wires) > 1 and all(len(w) <= 1000 for w in wires)
    back = [e for w in wires for e in unpack(w, 1000)[0]]
    assert back == envelopes


def test_encode_batch_refuses_an_oversized_or_non_json_member_naming_it() -> None:
    envelopes = make_many("team.red", ["ok", "x" * 2000])
    with pytest.raises(InvalidArgumentError, match=rf"message {envelopes[1].id} .* at most 1,000"):
        encode_batch(envelopes, max_bytes=1000)
    bad = make_many("team.red", ["ok", object()])
    with pytest.raises(InvalidArgumentError, match=rf"payload of message {bad[1].id} is not JSON"):
        encode_batch(bad)


def test_pack_puts_as_many_as_fit_in_each_wire_message() -> None:
    items = [b'{"a":1}'] * 5  # 7 bytes each: "[" + 7 + "," + 7 + "]" = 17 for two
    assert pack(items, max_bytes=17) == [b'[{"a":1},{"a":1}]'] * 2 + [b'{"a":1}']
    assert pack([], max_bytes=17) == []


def test_unpack_keeps_the_good_members_of_a_batch_and_names_the_bad_ones() -> None:
    one, two = make("a.b", 1), make("a.b", 2)
    wire = b"[" + b",".join([one.encode(), b'{"channel": "a..b"}', b"7", two.encode()]) + b"]"
    good, bad = unpack(wire)
    assert good == [one, two]
    assert bad[0].startswith("not an envelope: [1].channel: channel 'a..b': bad token")
    assert bad[1].startswith("not an envelope: [2].")
    assert unpack(one.encode()) == ([one], [])
    assert unpack(b"[]") == ([], ["not an envelope: an empty batch"])
    assert unpack(b"[nope")[1][0].startswith("not an envelope: message: Invalid JSON")
    assert unpack(b"{")[1][0].startswith("not an envelope: message: Invalid JSON")


def test_unpack_refuses_an_oversized_batch_unread() -> None:
    wire = b"[" + b"," * 2000 + b"]"
    assert unpack(wire, max_bytes=1000) == (
        [],
        ["a batch of 2,002 bytes arrived; the bus carries at most 1,000"],
    )
    assert is_batch(wire) and is_batch("[") and not is_batch(b"{}")
