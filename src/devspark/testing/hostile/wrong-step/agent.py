"""Answers with an action for a step other than the one asked."""

import json
import os
import sys
import time

PROTOCOL_OUT_FD = sys.modules["__main__"].PROTOCOL_OUT_FD


def act(observation, context):
    reply = {"type": "action", "step": context.step + 7, "action": context.legal_actions[0]}
    os.write(PROTOCOL_OUT_FD, (json.dumps(reply) + "\n").encode())
    time.sleep(3600)  # never sends the right one
