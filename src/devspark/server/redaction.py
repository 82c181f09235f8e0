"""Keep credentials out of the server log.

A WebSocket client may authenticate with ``/api/v1/ws?token=<access JWT>``; uvicorn
logs every request line and WebSocket handshake with its query string (HTTP requests on
``uvicorn.access``, WebSocket handshakes on ``uvicorn.error``). :class:`RedactQueryTokens`
rewrites such values to ``REDACTED`` before any handler sees the record, and
:func:`install_log_redaction` puts it on both loggers (idempotent; the app factory and
``devspark serve`` both call it).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

REDACTED = "REDACTED"
"""What a secret query value is replaced with."""

SECRET_PARAMETERS = ("token", "access_token", "refresh_token", "api_key")
"""Query parameters whose values are credentials."""

UVICORN_LOGGERS = ("uvicorn.access", "uvicorn.error")
"""The loggers that write request lines and WebSocket handshakes."""

_QUERY_ITEM = re.compile(r"(?P<lead>^|[?&;\s])(?P<item>[^?&;\s\"']+)")
_SECRET_ITEM = re.compile(r"(?:" + "|".join(SECRET_PARAMETERS) + r")=", re.IGNORECASE)


def _redact_item(match: re.Match[str]) -> str:
    """One ``key=value`` query item, its value redacted when the key names a secret.

    The key is compared percent-decoded (``%74oken=`` is ``token=`` to the server, which
    decodes it), and an encoded ``=`` (``token%3D...``) counts as one.
    """
    item = match.group("item")
    decoded = unquote_plus(item)
    secret = _SECRET_ITEM.match(decoded)
    if secret is None:
        return match.group(0)
    return match.group("lead") + secret.group(0) + REDACTED


def redact(text: str) -> str:
    """``text`` with the value of every secret query parameter replaced by ``REDACTED``.

    Args:
        text: A request line, path or message.

    Returns:
        The text, e.g. ``/api/v1/ws?token=REDACTED&x=1`` for ``/api/v1/ws?token=eyJ...&x=1``;
        a percent-encoded key is written decoded (``?%74oken=eyJ...`` -> ``?token=REDACTED``).

    """
    return _QUERY_ITEM.sub(_redact_item, text)


class RedactQueryTokens(logging.Filter):
    """A logging filter that redacts secret query values in a record's message and args."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; never drops it."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install_log_redaction(names: tuple[str, ...] = UVICORN_LOGGERS) -> None:
    """Put one :class:`RedactQueryTokens` on each logger of ``names`` (idempotent).

    Args:
        names: Logger names (default: uvicorn's request and handshake loggers).

    """
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryTokens) for f in target.filters):
            target.addFilter(RedactQueryTokens())


__all__ = [
    "REDACTED",
    "SECRET_PARAMETERS",
    "UVICORN_LOGGERS",
    "RedactQueryTokens",
    "install_log_redaction",
    "redact",
]
