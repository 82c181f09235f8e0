"""Closes the protocol output fd (and fd 1), then sleeps."""

import os
import sys
import time

PROTOCOL_OUT_FD = sys.modules["__main__"].PROTOCOL_OUT_FD


def act(observation, context):
    os.close(PROTOCOL_OUT_FD)
    os.close(1)
    time.sleep(3600)
