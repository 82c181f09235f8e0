"""Raises inside act."""


def act(observation, context):
    raise RuntimeError("hostile agent raising on purpose")
