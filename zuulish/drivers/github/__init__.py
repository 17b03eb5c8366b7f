"""GitHub: pull requests gated through webhooks and the REST API."""
