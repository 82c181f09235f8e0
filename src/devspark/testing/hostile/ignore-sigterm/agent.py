"""Ignores SIGTERM, SIGINT and SIGHUP and hangs in on_result and at exit.

Plays legal moves; the host must still end the match promptly.
"""

import atexit
import signal
import time

for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, signal.SIG_IGN)


def _hang(*_args):
    while True:
        time.sleep(3600)


atexit.register(_hang)


def act(observation, context):
    return context.legal_actions[0]


def on_result(message, context):
    _hang()
