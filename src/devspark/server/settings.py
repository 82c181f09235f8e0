"""Server settings, read from the environment and overridden by explicit arguments."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

import limits
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from devspark.core.errors import InvalidArgumentError
from devspark.store.archives import MAX_COMPRESSED_BYTES
from devspark.store.db import DATA_DIR_ENV, DATABASE_FILE, DATABASE_URL_ENV

DEV_MODE_ENV = "DEVSPARK_DEV"
RATE_LIMIT_ENV = "DEVSPARK_RATE_LIMIT"
RATE_LIMIT_IP_ENV = "DEVSPARK_RATE_LIMIT_IP"
MATCH_WORKERS_ENV = "DEVSPARK_MATCH_WORKERS"
REDIS_URL_ENV = "DEVSPARK_REDIS_URL"
BUS_URL_ENV = "DEVSPARK_BUS_URL"
TRUSTED_PROXIES_ENV = "DEVSPARK_TRUSTED_PROXIES"
MAX_BODY_ENV = "DEVSPARK_MAX_BODY_BYTES"
WS_CONNECT_LIMIT_ENV = "DEVSPARK_WS_CONNECT_LIMIT"
WS_MESSAGE_LIMIT_ENV = "DEVSPARK_WS_MESSAGE_LIMIT"
DEFAULT_WS_CONNECT_LIMIT = "60/minute"
"""WebSocket connections a client IP may open per minute."""
DEFAULT_WS_MESSAGE_LIMIT = "120/minute"
"""Messages one WebSocket connection may send per minute."""
MAX_UPLOAD_ENV = "DEVSPARK_MAX_UPLOAD_BYTES"
DEFAULT_MAX_BODY_BYTES = 1 << 20
"""Largest request body of any route but the agent uploads (1 MiB)."""
DEFAULT_MAX_UPLOAD_BYTES = MAX_COMPRESSED_BYTES + (64 << 10)
"""Largest agent upload body: the registry's archive limit plus 64 KiB of multipart envelope."""
DEFAULT_RATE_LIMIT = "120/minute"
DEFAULT_RATE_LIMIT_IP = "600/minute"
RATE_LIMIT_OFF = "off"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class Settings(BaseModel):
    """Everything the server needs to start.

    Build it with :meth:`from_env`, which reads ``DEVSPARK_*`` variables and lets
    arguments (the CLI's options) win over them.

    Attributes:
        data_dir: Folder for the default SQLite database (``DEVSPARK_DATA_DIR``).
        database_url: SQLAlchemy URL (``DEVSPARK_DATABASE_URL``, else SQLite in
            ``data_dir``).
        dev_mode: Development mode (``DEVSPARK_DEV``: ``1``/``true``/``yes``/``on``).
        host: Interface to bind.
        port: TCP port to bind.
        rate_limit: Requests allowed per authenticated caller (``DEVSPARK_RATE_LIMIT``,
            a ``limits`` string such as ``"120/minute"``, or ``"off"``).
        rate_limit_ip: Requests allowed per client IP (``DEVSPARK_RATE_LIMIT_IP``).
        match_workers: Matches the embedded worker plays at once, its slots
            (``DEVSPARK_MATCH_WORKERS``, default 1).
        bus_url: The message bus live events ride between processes
            (``DEVSPARK_BUS_URL``: ``redis://`` or ``nats://``); ``None`` uses
            ``redis_url`` when set, else live events stay in this process.
        redis_url: Redis URL for shared rate-limit counters (``DEVSPARK_REDIS_URL``);
            ``None`` keeps them in process memory.
        max_body_bytes: Largest request body accepted, in bytes
            (``DEVSPARK_MAX_BODY_BYTES``, default 1 MiB); larger ones get 413.
        max_upload_bytes: Largest agent upload body (``DEVSPARK_MAX_UPLOAD_BYTES``,
            default the registry's 16 MiB archive limit plus 64 KiB).
        ws_connect_limit: WebSocket connects per client IP (``DEVSPARK_WS_CONNECT_LIMIT``,
            a ``limits`` string, default ``"60/minute"``, or ``"off"``).
        ws_message_limit: Messages per WebSocket connection
            (``DEVSPARK_WS_MESSAGE_LIMIT``, default ``"120/minute"``, or ``"off"``).
        trusted_proxies: Reverse proxies whose ``X-Forwarded-For``/``-Proto`` headers
            are believed (``DEVSPARK_TRUSTED_PROXIES``, comma-separated IPs or CIDRs);
            none by default, so the client IP is always the connection's peer.

    """

    model_config = ConfigDict(frozen=True)

    data_dir: Path
    database_url: str = Field(min_length=1)
    dev_mode: bool = False
    host: str = Field(default=DEFAULT_HOST, min_length=1)
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    rate_limit: str = DEFAULT_RATE_LIMIT
    rate_limit_ip: str = DEFAULT_RATE_LIMIT_IP
    redis_url: str | None = None
    bus_url: str | None = None
    match_workers: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, ge=1024)
    ws_connect_limit: str = DEFAULT_WS_CONNECT_LIMIT
    ws_message_limit: str = DEFAULT_WS_MESSAGE_LIMIT
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad item
        return value

    @field_validator("rate_limit", "rate_limit_ip", "ws_connect_limit", "ws_message_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value.lower() == RATE_LIMIT_OFF:
            return RATE_LIMIT_OFF
        limits.parse(value)  # ValueError names the string; from_env reports the field
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("bus_url")
    @classmethod
    def _check_bus_url(cls, value: str | None) -> str | None:
        schemes = ("redis://", "rediss://", "nats://", "tls://")
        if value is not None and not value.startswith(schemes):
            raise ValueError(
                "must start with redis://, rediss://, nats:// or tls:// (a bus other "
                "processes reach; memory:// would reach none)"
            )
        return value

    @property
    def live_bus_url(self) -> str | None:
        """The bus live events ride: ``bus_url``, else ``redis_url``, else none."""
        return self.bus_url or self.redis_url

    @classmethod
    def from_env(
        cls,
        *,
        data_dir: Path | None = None,
        database_url: str | None = None,
        dev_mode: bool | None = None,
        host: str | None = None,
        port: int | None = None,
        rate_limit: str | None = None,
        rate_limit_ip: str | None = None,
        redis_url: str | None = None,
        bus_url: str | None = None,
        match_workers: int | None = None,
        max_body_bytes: int | None = None,
        max_upload_bytes: int | None = None,
        ws_connect_limit: str | None = None,
        ws_message_limit: str | None = None,
        trusted_proxies: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``); arguments win.

        Args:
            data_dir: Data folder; else ``DEVSPARK_DATA_DIR``, else
                ``~/.local/share/devspark``.
            database_url: Database URL; else ``DEVSPARK_DATABASE_URL``, else
                ``sqlite:///<data_dir>/devspark.db``.
            dev_mode: Development mode; else ``DEVSPARK_DEV`` (default off).
            host: Interface to bind (default ``127.0.0.1``).
            port: Port to bind (default ``8000``).
            rate_limit: Per-caller limit; else ``DEVSPARK_RATE_LIMIT``, else
                ``"120/minute"``.
            rate_limit_ip: Per-IP limit; else ``DEVSPARK_RATE_LIMIT_IP``, else
                ``"600/minute"``.
            redis_url: Rate-limit storage; else ``DEVSPARK_REDIS_URL``, else memory.
            bus_url: Live events' bus; else ``DEVSPARK_BUS_URL``, else ``redis_url``.
            match_workers: Slots of the embedded worker; else ``DEVSPARK_MATCH_WORKERS``,
                else 1.
            max_body_bytes: Body cap; else ``DEVSPARK_MAX_BODY_BYTES``, else 1 MiB.
            max_upload_bytes: Upload body cap; else ``DEVSPARK_MAX_UPLOAD_BYTES``.
            ws_connect_limit: WebSocket connects per IP; else
                ``DEVSPARK_WS_CONNECT_LIMIT``, else ``"60/minute"``.
            ws_message_limit: Messages per WebSocket; else ``DEVSPARK_WS_MESSAGE_LIMIT``,
                else ``"120/minute"``.
            trusted_proxies: Comma-separated proxy IPs/CIDRs; else
                ``DEVSPARK_TRUSTED_PROXIES``, else none.
            environ: Variables to read instead of the process environment.

        Returns:
            Validated, frozen settings.

        Raises:
            InvalidArgumentError: A value is malformed (names the variable and value).

        """
        env = os.environ if environ is None else environ
        if data_dir is None:
            configured = env.get(DATA_DIR_ENV)
            data_dir = (
                Path(configured) if configured else Path.home() / ".local" / "share" / "devspark"
            )
        data_dir = data_dir.expanduser().resolve()
        if database_url is None:
            database_url = env.get(DATABASE_URL_ENV) or f"sqlite:///{data_dir / DATABASE_FILE}"
        if dev_mode is None:
            dev_mode = _parse_bool(DEV_MODE_ENV, env.get(DEV_MODE_ENV, ""))
        try:
            return cls(
                data_dir=data_dir,
                database_url=database_url,
                dev_mode=dev_mode,
                host=DEFAULT_HOST if host is None else host,
                port=DEFAULT_PORT if port is None else port,
                rate_limit=rate_limit or env.get(RATE_LIMIT_ENV) or DEFAULT_RATE_LIMIT,
                rate_limit_ip=rate_limit_ip or env.get(RATE_LIMIT_IP_ENV) or DEFAULT_RATE_LIMIT_IP,
                redis_url=redis_url or env.get(REDIS_URL_ENV) or None,
                bus_url=bus_url or env.get(BUS_URL_ENV) or None,
                match_workers=(
                    match_workers
                    if match_workers is not None
                    else _parse_count(MATCH_WORKERS_ENV, env.get(MATCH_WORKERS_ENV, "1"))
                ),
                max_body_bytes=max_body_bytes
                or _parse_count(MAX_BODY_ENV, env.get(MAX_BODY_ENV, str(DEFAULT_MAX_BODY_BYTES))),
                max_upload_bytes=max_upload_bytes
                or _parse_count(
                    MAX_UPLOAD_ENV, env.get(MAX_UPLOAD_ENV, str(DEFAULT_MAX_UPLOAD_BYTES))
                ),
                ws_connect_limit=ws_connect_limit
                or env.get(WS_CONNECT_LIMIT_ENV)
                or DEFAULT_WS_CONNECT_LIMIT,
                ws_message_limit=ws_message_limit
                or env.get(WS_MESSAGE_LIMIT_ENV)
                or DEFAULT_WS_MESSAGE_LIMIT,
                trusted_proxies=_split(trusted_proxies or env.get(TRUSTED_PROXIES_ENV, "")),
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}={e['input']!r}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidArgumentError(f"server settings: {problems}") from exc

    @property
    def url(self) -> str:
        """The base URL the server answers on, e.g. ``http://127.0.0.1:8000``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def _split(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidArgumentError(
        f"{name}={value!r} is not a boolean; use one of {sorted(_TRUE | _FALSE - {''})}"
    )


def _parse_count(name: str, raw: str) -> int:
    """A positive integer from the environment variable ``name``.

    Raises:
        InvalidArgumentError: ``raw`` is not a positive integer (names the variable).

    """
    text = raw.strip()
    if not text.isdigit() or int(text) < 1:
        raise InvalidArgumentError(f"server settings: {name}={raw!r} is not a positive integer")
    return int(text)
