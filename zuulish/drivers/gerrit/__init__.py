"""The Gerrit driver: events from ``gerrit stream-events`` over SSH (and the
webhooks plugin), missed events caught up through REST after a disconnection,
and a REST client for queries, reviews and submits."""
