"""Spins forever inside act: the host must time the move out."""


def act(observation, context):
    while True:
        pass
