"""Conformance kits (agents, scenarios, bus backends) and the hostile-agent corpus."""

from devspark.testing.check_bus import check_bus

__all__ = ["check_bus"]
