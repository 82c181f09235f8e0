"""The one message shape of the bus: :class:`Envelope`, JSON on the wire.

Every message, whatever its pattern or backend, is an envelope: who sent it, to whom or
on which channel, what kind it is, its payload and its bookkeeping (priority, time,
correlation, where to reply, how long it lives). Envelopes are checked when they are
made and when they are read: a bad or oversized one is refused with an
:class:`~devspark.core.errors.InvalidArgumentError` naming the field, at its sender.

Every check is a constraint of the pydantic model (string patterns, ranges, literals),
so making and reading an envelope runs in pydantic's compiled core, not in Python
validators; only a refusal goes back to Python, to word its error.

A **batch** (:func:`pack`) is a JSON array of encoded envelopes, at most ``max_bytes``
long: :meth:`~devspark.bus.core.Bus.publish_many` sends one per frame on Redis and NATS,
and :func:`unpack` reads it back, checking each envelope as :meth:`Envelope.decode` does.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticSerializationError, from_json

from devspark.bus.channels import (
    CHANNEL_PATTERN,
    MAX_CHANNEL,
    NAME_OR_EMPTY_PATTERN,
    check_channel,
    check_name,
)
from devspark.core.errors import InvalidArgumentError

Kind = Literal["command", "event", "request", "response", "broadcast"]
"""What a message is: an order, a fact, a question, an answer, or news for everyone."""

KINDS: tuple[str, ...] = ("command", "event", "request", "response", "broadcast")

MAX_BYTES = 256 * 1024
"""The default largest envelope on the wire (JSON, UTF-8)."""

Channel = Annotated[str, StringConstraints(max_length=MAX_CHANNEL, pattern=CHANNEL_PATTERN)]
"""A concrete channel: the rules of :func:`~devspark.bus.channels.check_channel`."""

Name = Annotated[str, StringConstraints(pattern=NAME_OR_EMPTY_PATTERN)]
"""A sender or addressee: :func:`~devspark.bus.channels.check_name`, or ``""``."""

_ids = random.Random()  # ids need uniqueness, not secrecy: uuid4's os.urandom costs ~2 us
if hasattr(os, "register_at_fork"):  # a forked child must not repeat its parent's ids
    os.register_at_fork(after_in_child=_ids.seed)


def new_id() -> str:
    """A fresh message id: 32 hex characters (128 random bits, as a uuid4 has 122)."""
    return f"{_ids.getrandbits(128):032x}"


def _now_ms() -> float:
    return time.time() * 1000


class Envelope(BaseModel, frozen=True):
    """One message.

    Attributes:
        id: Unique id (hex).
        kind: ``command``, ``event``, ``request``, ``response`` or ``broadcast``.
        sender: Who sent it (an agent instance, a service, ``""`` for the platform).
        to: The agent instance it is addressed to (direct messages), else ``None``.
        channel: The channel it was published on (``inbox.<to>`` for a direct message).
        payload: Any JSON value.
        priority: 1 (lowest) to 10 (highest); 5 by default.
        ts: When it was made, milliseconds since the epoch.
        correlation_id: Ties a response to its request (and a conversation together).
        reply_to: The channel a response should go to.
        ttl_ms: Milliseconds it stays deliverable after ``ts`` (``None``: for ever).

    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_id)
    kind: Kind = "event"
    sender: Name = ""
    to: Name | None = None
    channel: Channel
    payload: Any = None
    priority: int = Field(default=5, ge=1, le=10)
    ts: float = Field(default_factory=_now_ms)
    correlation_id: str | None = None
    reply_to: Channel | None = None
    ttl_ms: int | None = Field(default=None, gt=0)

    def expired(self, now_ms: float | None = None) -> bool:
        """Whether its time to live has run out."""
        if self.ttl_ms is None:
            return False
        now = time.time() * 1000 if now_ms is None else now_ms
        return now > self.ts + self.ttl_ms

    def encode(self, max_bytes: int = MAX_BYTES) -> bytes:
        """The wire form (compact JSON).

        Raises:
            InvalidArgumentError: Over ``max_bytes``, or a payload that is not JSON.

        """
        try:
            data = _SERIALIZER.to_json(self, exclude_none=True)
        except PydanticSerializationError as exc:
            raise InvalidArgumentError(f"payload of message {self.id} is not JSON: {exc}") from None
        if len(data) > max_bytes:
            raise InvalidArgumentError(
                f"message {self.id} on {self.channel!r} is {len(data):,} bytes; "
                f"the bus carries at most {max_bytes:,}"
            )
        return data

    @classmethod
    def decode(cls, data: bytes | str, max_bytes: int = MAX_BYTES) -> Envelope:
        """Read the wire form back.

        Raises:
            InvalidArgumentError: Oversized, not JSON, or not an envelope (the message
                names the field).

        """
        if len(data) > max_bytes:
            raise InvalidArgumentError(
                f"a message of {len(data):,} bytes arrived; the bus carries at most {max_bytes:,}"
            )
        try:
            return _VALIDATOR.validate_json(data)  # type: ignore[no-any-return]
        except ValidationError as exc:
            raise InvalidArgumentError(f"not an envelope: {_problem(exc, named=False)}") from None


_SERIALIZER = Envelope.__pydantic_serializer__
_VALIDATOR = Envelope.__pydantic_validator__
_BATCH = TypeAdapter(list[Envelope])


def _problem(exc: ValidationError, *, named: bool) -> str:
    """The first problem of ``exc``: ``field: message`` (``field=value: message`` if ``named``).

    A channel or name that breaks its pattern is worded by the check that explains it
    (which token is bad and what is allowed), not as a regular expression.
    """
    problem = exc.errors()[0]
    loc = problem["loc"]
    where = ".".join(str(part) for part in loc) or "message"
    value = problem.get("input")
    message = problem["msg"]
    if problem["type"] == "string_pattern_mismatch" and isinstance(value, str) and loc:
        check = check_channel if loc[-1] in ("channel", "reply_to") else check_name
        try:
            check(value)
        except InvalidArgumentError as reason:
            message = str(reason)
    return f"{where}={value!r}: {message}" if named else f"{where}: {message}"


def make(
    channel: str,
    payload: Any = None,
    *,
    kind: str = "event",
    sender: str = "",
    to: str | None = None,
    priority: int = 5,
    correlation_id: str | None = None,
    reply_to: str | None = None,
    ttl_ms: int | None = None,
) -> Envelope:
    """An envelope, checked (the error names the field and the value).

    Raises:
        InvalidArgumentError: A field out of range or malformed.

    """
    fields: dict[str, Any] = {"channel": channel, "payload": payload}
    if kind != "event":  # a default is not checked again: the common message costs less
        fields["kind"] = kind
    if sender != "":
        fields["sender"] = sender
    if to is not None:
        fields["to"] = to
    if priority != 5:
        fields["priority"] = priority
    if correlation_id is not None:
        fields["correlation_id"] = correlation_id
    if reply_to is not None:
        fields["reply_to"] = reply_to
    if ttl_ms is not None:
        fields["ttl_ms"] = ttl_ms
    try:
        return _VALIDATOR.validate_python(fields)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise InvalidArgumentError(_problem(exc, named=True)) from None


def make_many(channel: str, payloads: Iterable[Any], **fields: Any) -> list[Envelope]:
    """One envelope per payload, all on ``channel`` with the same ``fields``, checked at once.

    Raises:
        InvalidArgumentError: A field out of range or malformed (worded as :func:`make`
            words it).

    """
    common = make(channel, None, **fields).model_dump(
        exclude={"id", "ts", "payload"}, exclude_defaults=True
    )  # checks the fields once, and keeps only those that are not defaults
    return _BATCH.validate_python([{**common, "payload": payload} for payload in payloads])


def encode_batch(envelopes: Sequence[Envelope], max_bytes: int = MAX_BYTES) -> list[bytes]:
    """Envelopes as few wire messages as fit, in order (see :func:`pack`).

    The common case, a batch that fits in ``max_bytes`` whole, is encoded in one call.

    Raises:
        InvalidArgumentError: One is oversized or its payload is not JSON (its id named).

    """
    if len(envelopes) > 1:
        try:
            whole = _BATCH.dump_json(list(envelopes), exclude_none=True)
        except PydanticSerializationError:
            whole = None  # encode one by one below, which names the message
        if whole is not None and len(whole) <= max_bytes:
            return [whole]
    return pack([envelope.encode(max_bytes) for envelope in envelopes], max_bytes)


def pack(encoded: Sequence[bytes], max_bytes: int = MAX_BYTES) -> list[bytes]:
    """Encoded envelopes as few wire messages as fit: batches of at most ``max_bytes``.

    A batch is a JSON array of envelopes (``[{...},{...}]``), in order; an envelope that
    would travel alone is sent as itself, not as an array of one.

    Args:
        encoded: Envelopes, each already encoded (so each at most ``max_bytes``).
        max_bytes: The largest wire message.

    Returns:
        The wire messages, in order.

    """
    frames: list[bytes] = []
    run: list[bytes] = []
    size = 1  # the opening bracket; each item adds itself and a comma or the closing one
    for data in encoded:
        if run and size + len(data) + 1 > max_bytes:
            frames.append(_frame(run))
            run, size = [], 1
        run.append(data)
        size += len(data) + 1
    if run:
        frames.append(_frame(run))
    return frames


def _frame(run: list[bytes]) -> bytes:
    return run[0] if len(run) == 1 else b"[" + b",".join(run) + b"]"


def is_batch(data: bytes | str) -> bool:
    """Whether a wire message is a batch (a JSON array) rather than one envelope."""
    head = data[:1]
    return head in (b"[", "[")


def unpack(data: bytes | str, max_bytes: int = MAX_BYTES) -> tuple[list[Envelope], list[str]]:
    """The envelopes of a wire message (one envelope or a batch), and what was refused.

    Args:
        data: A wire message.
        max_bytes: The largest wire message (a larger one is refused whole, unread).

    Returns:
        ``(envelopes, problems)``: the good envelopes in order, and one line per
        refused one (a batch that is not a JSON array of objects, an empty batch, or
        an element that is not an envelope), as :meth:`Envelope.decode` words them.

    """
    if not is_batch(data):
        try:
            return [Envelope.decode(data, max_bytes)], []
        except InvalidArgumentError as exc:
            return [], [str(exc)]
    if len(data) > max_bytes:
        return [], [
            f"a batch of {len(data):,} bytes arrived; the bus carries at most {max_bytes:,}"
        ]
    try:
        envelopes = _BATCH.validate_json(data)
    except ValidationError:
        return _unpack_one_by_one(data)
    if not envelopes:
        return [], ["not an envelope: an empty batch"]
    return envelopes, []


def _unpack_one_by_one(data: bytes | str) -> tuple[list[Envelope], list[str]]:
    """A batch with a bad element: keep the good ones (the slow path, errors only)."""
    try:
        items = from_json(data)
    except ValueError as exc:
        return [], [f"not an envelope: message: Invalid JSON: {exc}"]
    if not isinstance(items, list):  # pragma: no cover - is_batch saw '['
        return [], ["not an envelope: message: not a batch"]
    good: list[Envelope] = []
    bad: list[str] = []
    for index, item in enumerate(items):
        try:
            good.append(_VALIDATOR.validate_python(item, strict=False))
        except ValidationError as exc:
            bad.append(f"not an envelope: [{index}].{_problem(exc, named=False)}")
    if not items:
        bad.append("not an envelope: an empty batch")
    return good, bad


__all__ = [
    "KINDS",
    "MAX_BYTES",
    "Envelope",
    "Kind",
    "encode_batch",
    "is_batch",
    "make",
    "make_many",
    "new_id",
    "pack",
    "unpack",
]
