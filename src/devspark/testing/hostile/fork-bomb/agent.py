"""Forks without end; every child forks too. The pids cgroup (64) must stop it."""

import os
import time


def act(observation, context):
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.001)  # at the limit: keep trying, never give the move back
