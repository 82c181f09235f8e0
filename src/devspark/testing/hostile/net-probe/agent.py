"""Tries TCP, UDP, raw, netlink and unix-socket connections to the host's services.

Every attempt is logged as a verdict: ``BLOCKED <what> <Error(errno)>`` when it failed,
``LEAK <what> ...`` when a connection (or a datagram) got through. A Redis connection
that got through would also write the key devspark:hostile:canary, which the host looks
for. The work runs at import (the start budget is generous); act logs and plays legal.
"""

import socket

TCP = [
    ("127.0.0.1", 5432),
    ("127.0.0.1", 6379),
    ("127.0.0.1", 3306),
    ("::1", 6379),
    ("1.1.1.1", 443),
]
UDP = [("127.0.0.1", 53), ("8.8.8.8", 53)]
UNIX = [
    "/var/run/postgresql/.s.PGSQL.5432",
    "/run/postgresql/.s.PGSQL.5432",
    "/run/mysqld/mysqld.sock",
    "\0devspark-hostile-abstract",
]
REDIS_PROOF = b"*3\r\n$3\r\nSET\r\n$23\r\ndevspark:hostile:canary\r\n$6\r\nescape\r\n"


def _err(exc):
    return f"{type(exc).__name__}({getattr(exc, 'errno', None)})"


def _tcp(host, port):
    label = f"tcp:{host}:{port}"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        return f"BLOCKED {label} socket {_err(exc)}"
    try:
        sock.settimeout(0.2)
        sock.connect((host, port))
        if port == 6379:
            sock.sendall(REDIS_PROOF)
        return f"LEAK {label} connected"
    except OSError as exc:
        return f"BLOCKED {label} connect {_err(exc)}"
    finally:
        sock.close()


def _udp(host, port):
    label = f"udp:{host}:{port}"
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        return f"BLOCKED {label} socket {_err(exc)}"
    try:
        sock.sendto(
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01", (host, port)
        )
        return f"LEAK {label} sendto succeeded"
    except OSError as exc:
        return f"BLOCKED {label} sendto {_err(exc)}"
    finally:
        sock.close()


def _unix(path):
    label = f"unix:{path!r}"
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as exc:
        return f"BLOCKED {label} socket {_err(exc)}"
    try:
        sock.settimeout(0.2)
        sock.connect(path)
        return f"LEAK {label} connected"
    except OSError as exc:
        return f"BLOCKED {label} connect {_err(exc)}"
    finally:
        sock.close()


def _other(label, family, kind, proto=0):
    try:
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        return f"BLOCKED {label} socket {_err(exc)}"
    sock.close()
    return f"LEAK {label} socket created"


def _socketpair():
    try:
        left, right = socket.socketpair()
    except OSError as exc:
        return f"BLOCKED socketpair {_err(exc)}"
    left.close()
    right.close()
    return "INFO socketpair allowed (local only)"


def _probe():
    lines = [_tcp(host, port) for host, port in TCP]
    lines += [_udp(host, port) for host, port in UDP]
    lines += [_unix(path) for path in UNIX]
    lines.append(_other("raw:icmp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
    lines.append(_other("packet", socket.AF_PACKET, socket.SOCK_RAW))
    lines.append(_other("netlink:route", socket.AF_NETLINK, socket.SOCK_RAW, 0))
    lines.append(_socketpair())
    return lines


try:
    _LINES = _probe()
except Exception as exc:  # a broken probe must show, not pass silently
    _LINES = [f"ERROR probe failed {exc!r}"]
_logged = False


def act(observation, context):
    global _logged
    if not _logged:
        _logged = True
        for line in _LINES:
            context.log(line)
        context.log(f"DONE net-probe {len(_LINES)} checks")
    return context.legal_actions[0]
