"""Writes request lines without end on the protocol fd and never reads the responses."""

import os
import sys

PROTOCOL_OUT_FD = sys.modules["__main__"].PROTOCOL_OUT_FD


def handle(task, context):
    if task["payload"] == "behave":
        return "fine"
    line = b'{"type":"request","id":"r","to":"svc.echo","payload":"spam","timeout_ms":60000}\n'
    block = line * 256
    while True:
        os.write(PROTOCOL_OUT_FD, block)
