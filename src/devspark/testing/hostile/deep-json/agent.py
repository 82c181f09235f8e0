"""Answers with an action nested 400,000 arrays deep: valid JSON, under the 1 MiB cap.

Decoding it recursively overflows the decoder's recursion limit (RecursionError, which
is not a ValueError); the host must still call it a protocol error, not raise.
"""

import os
import sys

PROTOCOL_OUT_FD = sys.modules["__main__"].PROTOCOL_OUT_FD
DEPTH = 400_000


def act(observation, context):
    head = b'{"type":"action","step":' + str(context.step).encode() + b',"action":'
    line = head + b"[" * DEPTH + b"]" * DEPTH + b"}\n"
    view = memoryview(line)
    while view:
        view = view[os.write(PROTOCOL_OUT_FD, view) :]
    return context.legal_actions[0]
