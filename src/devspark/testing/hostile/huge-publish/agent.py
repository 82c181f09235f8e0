"""Writes one 10 MiB publish line (a 10 MB payload) on the protocol fd, then plays."""

import os
import sys

PROTOCOL_OUT_FD = sys.modules["__main__"].PROTOCOL_OUT_FD


def act(observation, context):
    if context.step < 2:
        line = b'{"type":"publish","channel":"team.x","payload":"' + b"y" * (10 << 20) + b'"}\n'
        view = memoryview(line)
        while view:
            view = view[os.write(PROTOCOL_OUT_FD, view) :]
    return context.legal_actions[0]
