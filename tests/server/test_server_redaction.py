"""Credentials in query strings never reach the server log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from devspark.app import create_app
from devspark.server.redaction import RedactQueryTokens, install_log_redaction, redact
from devspark.server.settings import Settings


def test_redact_replaces_every_secret_value_and_keeps_the_rest() -> None:
    assert redact("/api/v1/ws?token=eyJ.a.b") == "/api/v1/ws?token=REDACTED"
    assert redact("/x?a=1&TOKEN=abc&b=2") == "/x?a=1&TOKEN=REDACTED&b=2"
    assert (
        redact("/x?api_key=dsk_a_b&access_token=t") == "/x?api_key=REDACTED&access_token=REDACTED"
    )
    assert redact("/x?tokens=keep&mytoken=keep") == "/x?tokens=keep&mytoken=keep"


@pytest.mark.parametrize(
    "query",
    ["?%74oken=sekrit", "?to%6Ben=sekrit&x=1", "?x=1&access%5Ftoken=sekrit", "?token%3Dsekrit"],
)
def test_a_percent_encoded_secret_key_is_redacted_too(query: str) -> None:
    # The server decodes query keys, so ?%74oken= authenticates a WebSocket like ?token=.
    shown = redact(f'"WebSocket /api/v1/ws{query}" [accepted]')
    assert "sekrit" not in shown
    assert "=REDACTED" in shown


class Lines(logging.Handler):
    """Collects the formatted messages of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def uvicorn_lines() -> Iterator[Lines]:
    """What uvicorn's loggers emit, whatever an earlier test did to propagation."""
    lines = Lines()
    loggers = [logging.getLogger(name) for name in ("uvicorn.access", "uvicorn.error")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(lines)
        logger.setLevel(logging.INFO)
    yield lines
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(lines)
        logger.setLevel(level)


def test_the_app_redacts_uvicorn_request_and_handshake_lines(
    tmp_path: Path, uvicorn_lines: Lines
) -> None:
    create_app(Settings.from_env(data_dir=tmp_path, dev_mode=True, environ={}))
    # The exact calls uvicorn makes (h11 access line, WebSocket handshake line).
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/api/v1/ws?token=sekrit", "1.1", 101
    )
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/api/v1/ws?token=sekrit&x=1"
    )
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/api/v1/ws?%74oken=sekrit"
    )
    text = "\n".join(uvicorn_lines.lines)
    assert "sekrit" not in text
    assert '"WebSocket /api/v1/ws?token=REDACTED" [accepted]' in text
    assert '"GET /api/v1/ws?token=REDACTED HTTP/1.1" 101' in text
    assert '"WebSocket /api/v1/ws?token=REDACTED&x=1" [accepted]' in text


def test_install_is_idempotent() -> None:
    install_log_redaction()
    install_log_redaction()
    for name in ("uvicorn.access", "uvicorn.error"):
        found = [f for f in logging.getLogger(name).filters if isinstance(f, RedactQueryTokens)]
        assert len(found) == 1
