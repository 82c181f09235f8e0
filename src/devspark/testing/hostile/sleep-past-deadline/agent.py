"""Sleeps an hour inside act: the host must time the move out without burning CPU."""

import time


def act(observation, context):
    time.sleep(3600)
    return context.legal_actions[0]
