"""The API client of a ``driver: github`` connection, from its settings."""

from __future__ import annotations

from zuulish.clock import Clock, SystemClock
from zuulish.drivers.github.auth import AppAuth, Auth, TokenAuth
from zuulish.drivers.github.client import GitHubClient
from zuulish.drivers.github.settings import GithubSettings
from zuulish.drivers.github.transport import Transport
from zuulish.errors import ConfigError


def client_for(settings: GithubSettings, *, clock: Clock | None = None,
               timeout: float = 30.0, retries: int = 4,
               max_rate_wait: float = 3900.0) -> GitHubClient:
    """A client acting as the connection's GitHub App (``app_id``, ``app_key``) or with
    its ``api_token``, calling ``settings.api_url`` (github.com, a GitHub Enterprise
    Server's ``/api/v3``, or ``api_url`` as given)."""
    clock = clock or SystemClock()
    transport = Transport(settings.api_url, clock=clock, timeout=timeout, retries=retries,
                          verify=settings.verify_ssl, max_rate_wait=max_rate_wait)
    auth: Auth
    if settings.app_id is not None and settings.app_key is not None:
        auth = AppAuth.from_key_file(settings.app_id, settings.app_key, transport, clock)
    elif settings.api_token:
        auth = TokenAuth(settings.api_token)
    else:
        raise ConfigError(f"connections.{settings.name}: give app_id and app_key, or "
                          "api_token")
    return GitHubClient(transport, auth)
