"""Logs its whole environment, sorted, one ``INFO env`` line per variable.

A variable other than what the sandbox sets (PATH, HOME, LANG, and PWD from --chdir)
is a ``LEAK``: the host's environment must not reach agent code.
"""

import os

SANDBOX_ENV = {"PATH", "HOME", "LANG", "PWD"}


def _probe():
    lines = []
    for key in sorted(os.environ):
        verdict = "INFO" if key in SANDBOX_ENV else "LEAK"
        lines.append(f"{verdict} env {key}={os.environ[key][:200]}")
    return lines


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
        context.log(f"DONE env-leak {len(_LINES)} checks")
    return context.legal_actions[0]
