"""Starts sleeping threads without end. The pids cgroup (threads count) must stop it.

The RuntimeError("can't start new thread") Python raises at the limit propagates.
"""

import threading
import time


def _park():
    time.sleep(3600)


def act(observation, context):
    while True:
        threading.Thread(target=_park, daemon=True).start()
