"""The FastAPI server: REST + WebSocket API, auth, roles, rate limits, metrics."""
