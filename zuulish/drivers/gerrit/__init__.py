"""Gerrit: changes gated through stream-events (or webhooks) and the REST API."""
