"""uvicorn as ``devspark serve`` configures it: forwarded headers, WebSocket frame size.

``X-Forwarded-For`` is believed only from configured proxies (DEVSPARK_TRUSTED_PROXIES).
A real uvicorn server answers on 127.0.0.1 with a per-IP limit of 2 requests a minute:
the third request shows which client IP the rate limiter saw. A WebSocket message over
``WS_MAX_FRAME_BYTES`` is closed by the protocol before the app (or memory) sees it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from devspark.app import create_app
from devspark.cli.serve_cmd import WS_MAX_FRAME_BYTES, bind_listener, uvicorn_options
from devspark.core.errors import InvalidArgumentError
from devspark.server.routes.ws import MAX_MESSAGE_CHARS
from devspark.server.settings import Settings

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """Run the app under uvicorn in a thread; the socket is bound (and queues) first."""
    listener = bind_listener(settings.host, settings.port)
    listener.listen()  # connections queue until uvicorn serves: no readiness polling
    config = uvicorn.Config(
        create_app(settings, hasher=CHEAP), log_level="warning", **uvicorn_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield settings.url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def _statuses(url: str) -> list[int]:
    """Three reads from 127.0.0.1, each claiming another forwarded client IP."""
    with httpx.Client(base_url=url, timeout=30) as client:
        return [
            client.get(
                "/api/v1/scenarios", headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(3)
        ]


def _settings(tmp_path: Path, **environ: str) -> Settings:
    """SQLite in ``tmp_path`` (the environment is explicit: the process's is not read)."""
    return Settings.from_env(
        data_dir=tmp_path / "data", port=_free_port(), rate_limit_ip="2/minute", environ=environ
    )


def test_by_default_x_forwarded_for_does_not_change_the_client_ip(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.trusted_proxies == ()
    with served(settings) as url:
        assert _statuses(url) == [200, 200, 429]  # all three counted against 127.0.0.1


def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    settings = _settings(tmp_path, DEVSPARK_TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.1")
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    with served(settings) as url:
        assert _statuses(url) == [200, 200, 200]  # three forwarded clients, one each


def test_a_malformed_proxy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="trusted_proxies"):
        Settings.from_env(data_dir=tmp_path, trusted_proxies="10.0.0.300", environ={})


def test_a_websocket_frame_over_the_cap_is_closed_before_the_app_reads_it(
    tmp_path: Path,
) -> None:
    # uvicorn's default (16 MiB) let 20 unauthenticated sockets add ~320 MiB to the server.
    assert 4 * MAX_MESSAGE_CHARS <= WS_MAX_FRAME_BYTES < 1 << 20  # any allowed message fits
    settings = _settings(tmp_path)
    with served(settings) as url, connect(url.replace("http", "ws", 1) + "/api/v1/ws") as ws:
        ws.send("x" * (WS_MAX_FRAME_BYTES + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=30)  # no error message: the app never got the frame
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
