"""Plays one legal move, then exits with status 3 at its second move."""

import os

_moves = 0


def act(observation, context):
    global _moves
    _moves += 1
    if _moves == 2:
        os._exit(3)
    return context.legal_actions[0]
