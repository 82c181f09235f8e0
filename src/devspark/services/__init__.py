"""Use cases that tie the domain to storage: accounts, the agent registry, durable work. No web imports."""
