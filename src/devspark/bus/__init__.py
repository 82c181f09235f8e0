"""The message bus: one envelope, every pattern, three backends chosen by URL.

``await connect("memory://")`` (in this process, the embedded default),
``await connect("redis://127.0.0.1:6379/0")`` (Redis pub/sub and Streams) or
``await connect("nats://127.0.0.1:4222")`` (NATS and JetStream) give a
:class:`~devspark.bus.core.Bus` with publish/subscribe and wildcards, batches
(``publish_many``), direct messages, broadcasts, request/response and acknowledged work
queues with dead letters. See docs/bus.md for what each pattern guarantees on each
backend.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from devspark.bus.channels import check_channel, check_pattern, inbox, matches
from devspark.bus.core import (
    BROADCAST,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_VISIBILITY_MS,
    Bus,
    Delivery,
    Subscription,
    Transport,
    dead_letters,
)
from devspark.bus.envelope import KINDS, MAX_BYTES, Envelope, make, make_many
from devspark.core.errors import DevSparkError, InvalidArgumentError, did_you_mean

SCHEMES = ("memory", "redis", "rediss", "nats", "tls")
"""The URL schemes :func:`connect` knows."""


async def connect(
    url: str = "memory://",
    *,
    max_bytes: int = MAX_BYTES,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Bus:
    """A bus on the backend ``url`` names.

    Args:
        url: ``memory://[NAME]``, ``redis://HOST:PORT/DB`` (or ``rediss://``),
            ``nats://HOST:PORT`` (or ``tls://``).
        max_bytes: The largest envelope carried (256 KiB by default).
        max_attempts: Deliveries of a queue message before it is dead-lettered.

    Raises:
        InvalidArgumentError: An unknown scheme (with a suggestion).
        FailedPreconditionError: The backend cannot be reached.

    """
    scheme = urlsplit(url).scheme.lower()
    transport: Transport
    if scheme == "memory":
        from devspark.bus.memory import MemoryTransport

        transport = MemoryTransport(urlsplit(url).netloc)
    elif scheme in ("redis", "rediss"):
        from devspark.bus.redis import RedisTransport

        transport = await RedisTransport.open(url)
    elif scheme in ("nats", "tls"):
        from devspark.bus.nats import NatsTransport

        transport = await NatsTransport.open(url)
    else:
        raise InvalidArgumentError(
            f"bus url {url!r}: scheme {scheme!r} is not one of "
            f"{', '.join(SCHEMES)}{did_you_mean(scheme, SCHEMES)}"
        )
    return Bus(transport, _shown(url), max_bytes=max_bytes, max_attempts=max_attempts)


def _shown(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


__all__ = [
    "BROADCAST",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_VISIBILITY_MS",
    "KINDS",
    "MAX_BYTES",
    "SCHEMES",
    "Bus",
    "Delivery",
    "DevSparkError",
    "Envelope",
    "Subscription",
    "Transport",
    "check_channel",
    "check_pattern",
    "connect",
    "dead_letters",
    "inbox",
    "make",
    "make_many",
    "matches",
]
