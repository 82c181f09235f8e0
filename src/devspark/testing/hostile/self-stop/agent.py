"""Stops itself with SIGSTOP inside act: the host must time out and still kill it."""

import os
import signal


def act(observation, context):
    os.kill(os.getpid(), signal.SIGSTOP)
    return context.legal_actions[0]
