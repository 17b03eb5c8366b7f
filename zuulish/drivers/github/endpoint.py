"""Where a connection's API lives: github.com or a GitHub Enterprise Server."""

from __future__ import annotations

from urllib.parse import urlsplit

from zuulish.errors import ConfigError

GITHUB_COM = "github.com"
GITHUB_COM_API = "https://api.github.com"


def api_base_url(server: str | None = None, explicit: str | None = None) -> str:
    """The REST API's base URL (no trailing slash).

    ``explicit`` (the ``api_base_url`` option) wins; otherwise github.com's API for
    ``server`` unset or ``github.com``, and ``https://{server}/api/v3`` for a GitHub
    Enterprise Server.
    """
    if explicit:
        parts = urlsplit(explicit)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"api_base_url must be an http(s) URL, not {explicit!r}")
        if parts.query or parts.fragment:
            raise ConfigError(f"api_base_url must not have a query or fragment: {explicit!r}")
        return explicit.rstrip("/")
    host = (server or GITHUB_COM).strip().lower()
    if not host or any(c in host for c in "/ @?#") or (":" in host and not _has_port(host)):
        raise ConfigError(f"server must be a host name such as ghe.example.com, not {server!r}")
    if host == GITHUB_COM:
        return GITHUB_COM_API
    return f"https://{host}/api/v3"


def _has_port(host: str) -> bool:
    name, _, port = host.rpartition(":")
    return bool(name) and port.isdigit()
