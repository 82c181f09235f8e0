"""The one message shape of the bus: :class:`Envelope`, JSON on the wire.

Every message, whatever its pattern or backend, is an envelope: who sent it, to whom or
on which channel, what kind it is, its payload and its bookkeeping (priority, time,
correlation, where to reply, how long it lives). Envelopes are checked when they are
made and when they are read: a bad or oversized one is refused with an
:class:`~devspark.core.errors.InvalidArgumentError` naming the field, at its sender.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from devspark.bus.channels import check_channel, check_name
from devspark.core.errors import InvalidArgumentError

Kind = Literal["command", "event", "request", "response", "broadcast"]
"""What a message is: an order, a fact, a question, an answer, or news for everyone."""

KINDS: tuple[str, ...] = ("command", "event", "request", "response", "broadcast")

MAX_BYTES = 256 * 1024
"""The default largest envelope on the wire (JSON, UTF-8)."""


class Envelope(BaseModel):
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

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    kind: Kind = "event"
    sender: str = ""
    to: str | None = None
    channel: str
    payload: Any = None
    priority: int = Field(default=5, ge=1, le=10)
    ts: float = Field(default_factory=lambda: time.time() * 1000)
    correlation_id: str | None = None
    reply_to: str | None = None
    ttl_ms: int | None = Field(default=None, gt=0)

    @field_validator("channel", "reply_to")
    @classmethod
    def _concrete_channel(cls, value: str | None) -> str | None:
        return None if value is None else check_channel(value)

    @field_validator("to", "sender")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return value if not value else check_name(value)  # "" stays "" (round trips)

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
            data = self.model_dump_json(exclude_none=True).encode()
        except (TypeError, ValueError) as exc:  # pydantic_core's serialisation errors
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
            return cls.model_validate_json(data)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "message"
            raise InvalidArgumentError(f"not an envelope: {where}: {problem['msg']}") from None


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
    try:
        return Envelope(
            kind=kind,  # type: ignore[arg-type]  # checked by the model
            sender=sender,
            to=to,
            channel=channel,
            payload=payload,
            priority=priority,
            correlation_id=correlation_id,
            reply_to=reply_to,
            ttl_ms=ttl_ms,
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "message"
        value = problem.get("input")
        raise InvalidArgumentError(f"{where}={value!r}: {problem['msg']}") from None


__all__ = ["KINDS", "MAX_BYTES", "Envelope", "Kind", "make"]
