"""Matches: agent resolution, the match runner and the local executor."""

from devspark.arena.agents import resolve_agent
from devspark.arena.match import MatchSpec, play_episode, run_match
from devspark.arena.pool import WorkerCache, run_matches

__all__ = ["MatchSpec", "WorkerCache", "play_episode", "resolve_agent", "run_match", "run_matches"]
