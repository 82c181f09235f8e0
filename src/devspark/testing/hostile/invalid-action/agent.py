"""Returns 42, which is never a tictactoe action."""


def act(observation, context):
    return 42
