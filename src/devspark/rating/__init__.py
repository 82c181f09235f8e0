"""Ratings, statistics and leaderboards: what the playground's verdicts are made of."""
