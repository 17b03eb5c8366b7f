"""The built-in forge's settings in ``zuulish.yaml``.

Example::

    connections:
      forge:
        driver: git
        anonymous_read: [org/public]         # true | false (default) | projects
        url: https://ci.example.org/git      # what mergers and executors fetch from
        max_request_bytes: 1073741824         # the largest push (or fetch request)

Without ``url`` mergers and executors read the repositories from the state
directory (one host); with it they fetch ``<url>/<project>.git`` over HTTP with
the components' credential (:mod:`zuulish.drivers.git.http_auth`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuulish.drivers.settings import Setting, read_settings
from zuulish.errors import ConfigError
from zuulish.merger.credentials import UrlPrefix

DEFAULT_MAX_REQUEST_BYTES = 1 << 30

KNOWN = {
    "anonymous_read": Setting((bool, list), False),
    "url": Setting(str),
    "plain_http": Setting(bool, False),
    "max_request_bytes": Setting(int, DEFAULT_MAX_REQUEST_BYTES),
}


@dataclass(frozen=True)
class ForgeSettings:
    name: str
    #: True: every project; a frozenset: those projects; False: none
    anonymous_read: bool | frozenset[str] = False
    url: str | None = None
    #: send the components' credential to a non-loopback ``http://`` url
    plain_http: bool = False
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES

    def readable_by_anyone(self, project: str) -> bool:
        if isinstance(self.anonymous_read, bool):
            return self.anonymous_read
        return project in self.anonymous_read


def read_forge_settings(name: str, options: dict[str, Any],
                        path: Path | str | None) -> ForgeSettings:
    """The connection's options checked; a ConfigError names the key and the file."""
    values = read_settings(name, options, KNOWN, {}, path)
    file = str(path) if path is not None else None
    where = f"connections.{name}"
    anonymous = values["anonymous_read"]
    if isinstance(anonymous, list):
        if not all(isinstance(p, str) and p for p in anonymous):
            raise ConfigError(f"{where}.anonymous_read must be true, false or a list of "
                              f"project names, not {anonymous!r}", file=file)
        anonymous = frozenset(anonymous)
    url = values["url"]
    if url is not None:
        url = url.rstrip("/")
        try:
            UrlPrefix.parse(url + "/")
        except ConfigError as exc:
            raise ConfigError(f"{where}.url: {exc}", file=file) from None
    limit = values["max_request_bytes"]
    if limit <= 0:
        raise ConfigError(f"{where}.max_request_bytes must be a positive number of bytes, "
                          f"not {limit}", file=file)
    return ForgeSettings(name, anonymous, url, values["plain_http"], limit)
