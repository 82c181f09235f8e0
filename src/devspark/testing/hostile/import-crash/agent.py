"""Raises at import: the agent never becomes ready."""

raise SystemExit("hostile agent refusing to load")


def act(observation, context):
    return context.legal_actions[0]
