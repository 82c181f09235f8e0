"""Writes many files into /state, each under the per-file limit, to fill the host disk.

/state is a bind mount of a folder on the host's disk. RLIMIT_FSIZE caps one file at
64 MiB, but nothing caps the total: ``LEAK`` when more than 128 MiB (twice any one
file) was accepted, ``BLOCKED`` when a quota refused it first. The files are removed
before the agent plays, so the host is not left full either way.
"""

import errno
import os

CHUNK = b"\x77" * (1 << 20)
FILE_MB = 16
FILES = 10
LIMIT_MB = 128


def _probe():
    written = 0
    paths = []
    verdict = None
    try:
        for index in range(FILES):
            path = f"/state/quota-{index}.bin"
            paths.append(path)
            with open(path, "wb") as handle:
                for _ in range(FILE_MB):
                    handle.write(CHUNK)
                    written += 1
    except OSError as exc:
        verdict = f"BLOCKED state total after {written} MiB {errno.errorcode.get(exc.errno, '?')}({exc.errno})"
    finally:
        for path in paths:
            try:
                os.unlink(path)
            except OSError:
                pass
    if verdict is None:
        if written > LIMIT_MB:
            verdict = f"LEAK state accepted {written} MiB in {len(paths)} files (no total quota on /state: host disk)"
        else:
            verdict = f"BLOCKED state total stopped at {written} MiB"
    return [verdict]


try:
    _LINES = _probe()
except Exception as exc:
    _LINES = [f"ERROR probe failed {exc!r}"]
_logged = False


def act(observation, context):
    global _logged
    if not _logged:
        _logged = True
        for line in _LINES:
            context.log(line)
        context.log(f"DONE state-quota {len(_LINES)} checks")
    return context.legal_actions[0]
