"""Conformance kits (agents, scenarios) and the hostile-agent corpus."""
