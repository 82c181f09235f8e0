"""Writes a malformed JSON line on the protocol fd instead of an action."""

import os
import sys

PROTOCOL_OUT_FD = sys.modules["__main__"].PROTOCOL_OUT_FD


def act(observation, context):
    os.write(
        PROTOCOL_OUT_FD,
        b'{"type": "action", "step": ' + str(context.step).encode() + b', "action": \n',
    )
    return context.legal_actions[0]
