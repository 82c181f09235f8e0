"""Starts sleeping threads without end. The pids cgroup (threads count) must stop it.

Stacks are kept small (64 KiB) so the pids limit, not RLIMIT_AS, is what stops it; the
RuntimeError("can't start new thread") Python raises at the limit propagates.
"""

import threading
import time

threading.stack_size(64 << 10)


def _park():
    time.sleep(3600)


def act(observation, context):
    while True:
        threading.Thread(target=_park, daemon=True).start()
