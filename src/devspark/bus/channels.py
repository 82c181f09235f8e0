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

_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_NAME = re.compile(r"^[A-Za-z0-9_\-.:/@]{1,128}$")
MAX_CHANNEL = 255


def check_channel(channel: str) -> str:
    """A concrete channel (no wildcard), or :class:`InvalidArgumentError`."""
    _check(channel, wildcards=False)
    return channel


def check_pattern(pattern: str) -> str:
    """A subscription pattern (wildcards allowed), or :class:`InvalidArgumentError`."""
    _check(pattern, wildcards=True)
    return pattern


def check_name(name: str) -> str:
    """An agent instance or sender name (``agent:ada/bot@1.0.0#2`` style), or an error."""
    if not _NAME.match(name):
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
        if not _TOKEN.match(part):
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


__all__ = ["check_channel", "check_name", "check_pattern", "inbox", "matches"]
