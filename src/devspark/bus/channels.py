"""Channel names and patterns, NATS style: dot-separated tokens, ``*`` and ``>``.

A channel is ``team.red.moves``: tokens of letters, digits, ``_`` and ``-`` separated by
dots. A pattern may use ``*`` for exactly one token (``team.*.moves``) and end with ``>``
for one or more tokens (``team.>``). Every backend matches with these rules, whatever its
own syntax (:func:`to_redis_glob` for Redis).
"""

from __future__ import annotations

import hashlib
import re

from devspark.core.errors import InvalidArgumentError

_PART_RE = r"[A-Za-z0-9_\-]{1,64}"
_NAME_RE = r"[A-Za-z0-9_\-.:/@]{1,128}"
_TOKEN = re.compile(_PART_RE)
_NAME = re.compile(_NAME_RE)
MAX_CHANNEL = 255

CHANNEL_PATTERN = rf"^{_PART_RE}(?:\.{_PART_RE})*$"
"""A concrete channel as one regular expression (with :data:`MAX_CHANNEL` characters at most).

It says what :func:`check_channel` says, for pydantic's compiled (Rust) pattern check:
``$`` there is the end of the text, as ``fullmatch`` is here.
"""

NAME_OR_EMPTY_PATTERN = rf"^(?:{_NAME_RE})?$"
"""A name as :func:`check_name` accepts it, or the empty string (the platform's sender)."""

_CHANNEL = re.compile(CHANNEL_PATTERN.removeprefix("^").removesuffix("$"))


def check_channel(channel: str) -> str:
    """A concrete channel (no wildcard), or :class:`InvalidArgumentError`."""
    if len(channel) <= MAX_CHANNEL and _CHANNEL.fullmatch(channel):
        return channel  # the common case: one compiled match
    _check(channel, wildcards=False)
    return channel


def check_pattern(pattern: str) -> str:
    """A subscription pattern (wildcards allowed), or :class:`InvalidArgumentError`."""
    _check(pattern, wildcards=True)
    return pattern


def check_name(name: str) -> str:
    """An agent instance or sender name (``agent:ada/bot@1.0.0#2`` style), or an error."""
    if not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"name {name!r} must be 1-128 characters of letters, digits and _-.:/@"
        )
    return name


def _check(text: str, *, wildcards: bool) -> None:
    if not text or len(text) > MAX_CHANNEL:
        raise InvalidArgumentError(f"channel {text!r} must be 1-{MAX_CHANNEL} characters")
    tokens = text.split(".")
    for index, part in enumerate(tokens):
        if wildcards and part == "*":
            continue
        if wildcards and part == ">" and index == len(tokens) - 1:
            continue
        if not _TOKEN.fullmatch(part):
            allowed = "tokens of letters, digits, _ and -, separated by dots"
            if wildcards:
                allowed += "; '*' for one token, '>' last for the rest"
            raise InvalidArgumentError(f"channel {text!r}: bad token {part!r} ({allowed})")


def matches(pattern: str, channel: str) -> bool:
    """Whether ``channel`` matches ``pattern`` (``*`` one token, ``>`` the rest)."""
    want = pattern.split(".")
    have = channel.split(".")
    for index, part in enumerate(want):
        if part == ">":
            return len(have) > index
        if index >= len(have) or (part != "*" and part != have[index]):
            return False
    return len(have) == len(want)


def inbox(agent: str) -> str:
    """The channel of an agent instance's direct messages."""
    return "inbox." + _token_of(agent)


def _token_of(name: str) -> str:
    """A channel token for any name: readable, and unique by a hash of the whole name."""
    if not name:
        raise InvalidArgumentError("an empty name has no inbox")
    readable = re.sub(r"[^A-Za-z0-9_\-]", "_", name)[:48]
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


__all__ = [
    "CHANNEL_PATTERN",
    "MAX_CHANNEL",
    "NAME_OR_EMPTY_PATTERN",
    "check_channel",
    "check_name",
    "check_pattern",
    "inbox",
    "matches",
]
