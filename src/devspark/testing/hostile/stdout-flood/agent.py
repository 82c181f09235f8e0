"""Writes endless non-JSON text lines straight to the protocol's output fd."""

import os
import sys

# The runner's real output fd (fd 1 is stderr for agent code); found through the
# runner module itself, as any agent could.
PROTOCOL_OUT_FD = sys.modules["__main__"].PROTOCOL_OUT_FD


def act(observation, context):
    chunk = b"this is not JSON, this is a flood\n" * 2048
    while True:
        os.write(PROTOCOL_OUT_FD, chunk)
