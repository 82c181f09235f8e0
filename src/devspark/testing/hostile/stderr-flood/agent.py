"""Writes endlessly to fd 2: the host must keep draining (capped) and time the move out."""

import os


def act(observation, context):
    chunk = b"stderr flood " * 5000 + b"\n"
    while True:
        os.write(2, chunk)
