"""The work engine: processes that claim queued matches from the database and play them.

``devspark worker`` runs one (:class:`~devspark.worker.engine.Worker`); ``devspark serve``
embeds one unless told ``--no-worker``. The HTTP server never plays: it writes rows.
"""
