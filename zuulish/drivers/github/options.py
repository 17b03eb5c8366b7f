"""A ``driver: github`` connection's options, as far as the API client needs them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zuulish.clock import Clock, SystemClock
from zuulish.drivers.github.auth import AppAuth, Auth, TokenAuth
from zuulish.drivers.github.client import GitHubClient
from zuulish.drivers.github.endpoint import api_base_url
from zuulish.drivers.github.transport import Transport
from zuulish.errors import ConfigError


def client_from_options(options: Mapping[str, Any], *, clock: Clock | None = None,
                        base_dir: Path | None = None, timeout: float = 30.0,
                        retries: int = 4) -> GitHubClient:
    """A client for a ``driver: github`` connection's options.

    ``app_id`` with ``app_key`` (a PEM file, relative to ``base_dir``) for a GitHub App,
    or ``api_token``; ``server`` (a GitHub Enterprise Server's host) or ``api_base_url``.
    Option names may be written with ``-`` or ``_``.
    """
    opts = {str(k).replace("-", "_"): v for k, v in options.items()}
    clock = clock or SystemClock()
    base = api_base_url(opts.get("server"), opts.get("api_base_url"))
    transport = Transport(base, clock=clock, timeout=timeout, retries=retries)
    auth: Auth
    if opts.get("app_id") is not None:
        if opts.get("api_token"):
            raise ConfigError("give either app_id and app_key or api_token, not both")
        key = opts.get("app_key")
        if not isinstance(key, str) or not key:
            raise ConfigError("app_id needs app_key: the path of the App's private key")
        path = Path(key).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        auth = AppAuth.from_key_file(opts["app_id"], path, transport, clock)
    elif opts.get("api_token"):
        auth = TokenAuth(str(opts["api_token"]))
    else:
        raise ConfigError("a github connection needs app_id and app_key, or api_token")
    return GitHubClient(transport, auth)
