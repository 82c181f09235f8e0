"""Writes endless well-formed log messages to the protocol fd (the 8 MiB per-move cap)."""

import json
import os
import sys

PROTOCOL_OUT_FD = sys.modules["__main__"].PROTOCOL_OUT_FD


def act(observation, context):
    line = json.dumps({"type": "log", "step": context.step, "message": "x" * 4000}) + "\n"
    chunk = line.encode() * 64
    while True:
        os.write(PROTOCOL_OUT_FD, chunk)
