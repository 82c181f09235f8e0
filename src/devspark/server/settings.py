"""Server settings, read from the environment and overridden by explicit arguments."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from devspark.core.errors import InvalidArgumentError
from devspark.store.db import DATA_DIR_ENV, DATABASE_FILE, DATABASE_URL_ENV

DEV_MODE_ENV = "DEVSPARK_DEV"
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

    """

    model_config = ConfigDict(frozen=True)

    data_dir: Path
    database_url: str = Field(min_length=1)
    dev_mode: bool = False
    host: str = Field(default=DEFAULT_HOST, min_length=1)
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)

    @classmethod
    def from_env(
        cls,
        *,
        data_dir: Path | None = None,
        database_url: str | None = None,
        dev_mode: bool | None = None,
        host: str | None = None,
        port: int | None = None,
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


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidArgumentError(
        f"{name}={value!r} is not a boolean; use one of {sorted(_TRUE | _FALSE - {''})}"
    )
