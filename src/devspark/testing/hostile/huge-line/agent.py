"""Writes one 10 MiB line (a log message) on the protocol fd."""

import os
import sys

PROTOCOL_OUT_FD = sys.modules["__main__"].PROTOCOL_OUT_FD


def act(observation, context):
    line = b'{"type":"log","step":0,"message":"' + b"y" * (10 << 20) + b'"}\n'
    view = memoryview(line)
    while view:
        view = view[os.write(PROTOCOL_OUT_FD, view) :]
    return context.legal_actions[0]
