"""A GitHub connection's settings in ``zuulish.yaml`` (Zuul's names).

Example (a GitHub App; see README "GitHub")::

    connections:
      github:
        driver: github
        app_id: 123456
        app_key: /etc/zuulish/github-app.pem   # the app's private key
        webhook_token: <the app's webhook secret>
        # api_token: ghp_...                   # instead of an app: a personal token
        # server: github.example.com           # GitHub Enterprise Server
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuulish.drivers.settings import Setting, read_settings
from zuulish.errors import ConfigError

GITHUB_COM = "github.com"

KNOWN = {
    "app_id": Setting((int, str)),
    "app_key": Setting(str),
    "api_token": Setting(str),
    "webhook_token": Setting(str, required=True),
    "server": Setting(str, GITHUB_COM),
    "canonical_hostname": Setting(str),
    "verify_ssl": Setting(bool, True),
    "rate_limit_logging": Setting(bool, True),
    # zuulish's own: the REST API's base URL when it is not where ``server`` puts it
    # (a proxy, or a test's fake on 127.0.0.1)
    "api_url": Setting(str),
}
REFUSED = {
    "sshkey": "zuulish fetches GitHub repositories over HTTPS with the app's or the "
              "token's credentials, not over SSH; remove sshkey",
    "repo_cache": "GitHub Enterprise repository caches are not supported",
    "repo_retry_timeout": "only used with repo_cache, which is not supported",
    "max_threads_per_installation": "zuulish makes one installation's calls one at a "
                                    "time, in order; remove it",
}


@dataclass(frozen=True)
class GithubSettings:
    name: str
    webhook_token: str
    server: str = GITHUB_COM
    canonical_hostname: str = GITHUB_COM
    app_id: str | None = None
    app_key: Path | None = None
    api_token: str | None = None
    verify_ssl: bool = True
    rate_limit_logging: bool = True
    api_url: str = "https://api.github.com"

    @property
    def web_url(self) -> str:
        """Where people see pull requests (what Depends-On URLs start with)."""
        return f"https://{self.server}"

    @property
    def uses_app(self) -> bool:
        return self.app_id is not None


def api_url_for(server: str) -> str:
    """GitHub's REST API for ``server``: api.github.com, or GitHub Enterprise
    Server's ``https://<server>/api/v3``."""
    return "https://api.github.com" if server == GITHUB_COM else f"https://{server}/api/v3"


def read_github_settings(name: str, options: dict[str, Any],
                         path: Path | str | None) -> GithubSettings:
    values = read_settings(name, options, KNOWN, REFUSED, path)
    file = str(path) if path is not None else None
    app_id, app_key, token = values["app_id"], values["app_key"], values["api_token"]
    if (app_id is None) != (app_key is None):
        missing = "app_key" if app_key is None else "app_id"
        raise ConfigError(f"connections.{name}: a GitHub App needs both app_id and app_key; "
                          f"{missing} is missing", file=file)
    if app_id is None and token is None:
        raise ConfigError(f"connections.{name}: zuulish needs to call GitHub's API: give "
                          "app_id and app_key (a GitHub App, recommended) or api_token",
                          file=file)
    key_path = None
    if app_key is not None:
        base = Path(path).parent if path is not None else Path.cwd()
        key_path = (base / Path(app_key).expanduser()).resolve()
        if not key_path.is_file():
            raise ConfigError(f"connections.{name}.app_key: no file {key_path}", file=file)
    server = values["server"].rstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?", server):
        raise ConfigError(f"connections.{name}.server must be a host name such as "
                          f"github.example.com, not {server!r} (a full API URL goes in "
                          "api_url)", file=file)
    if not values["webhook_token"]:
        raise ConfigError(f"connections.{name}.webhook_token must not be empty: it is what "
                          "tells GitHub's deliveries from forged ones", file=file)
    return GithubSettings(
        name=name, webhook_token=values["webhook_token"], server=server,
        canonical_hostname=values["canonical_hostname"] or server,
        app_id=None if app_id is None else str(app_id), app_key=key_path, api_token=token,
        verify_ssl=values["verify_ssl"], rate_limit_logging=values["rate_limit_logging"],
        api_url=(values["api_url"] or api_url_for(server)).rstrip("/"))
