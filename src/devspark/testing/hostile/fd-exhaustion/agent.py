"""Opens descriptors until EMFILE, then lets the error propagate."""

import os

_held = []


def act(observation, context):
    while True:
        _held.append(os.open("/dev/null", os.O_RDONLY))
