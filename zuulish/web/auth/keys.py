"""The signing keys of an OpenID Connect issuer: its JWKS, fetched once and cached.

The keys' address is the authenticator's ``keys_url``, else the ``jwks_uri`` of
the issuer's ``/.well-known/openid-configuration``. A token whose ``kid`` is not
in the cached set makes the set be fetched again (the issuer may have rotated its
keys), at most once per ``min_refetch`` seconds, so tokens with made-up key ids
cannot make zuulish hammer the issuer.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import jwt

# the algorithms an issuer's keys may sign with: asymmetric only, never HS* or none
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                        "ES384", "ES512", "EdDSA"})
MAX_DOCUMENT = 1 << 20  # bytes of a discovery document or key set
DEFAULT_MIN_REFETCH = 60.0
DEFAULT_TIMEOUT = 10.0


class KeyUnavailable(Exception):
    """No key to check the token with; the message says why (for the log)."""


def fetch_json(url: str, timeout: float) -> dict[str, Any]:
    """A JSON object from ``url`` (http or https), at most MAX_DOCUMENT bytes."""
    if not url.startswith(("https://", "http://")):
        raise KeyUnavailable(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_DOCUMENT + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise KeyUnavailable(f"cannot fetch {url}: {exc}") from None
    if len(body) > MAX_DOCUMENT:
        raise KeyUnavailable(f"{url} answered more than {MAX_DOCUMENT} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise KeyUnavailable(f"{url} did not answer JSON") from None
    if not isinstance(data, dict):
        raise KeyUnavailable(f"{url} did not answer a JSON object")
    return data


class IssuerKeys:
    """An issuer's key set, fetched on first use and cached."""

    def __init__(self, issuer: str, keys_url: str | None, *,
                 min_refetch: float = DEFAULT_MIN_REFETCH, timeout: float = DEFAULT_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic):
        self.issuer = issuer.rstrip("/")
        self.keys_url = keys_url
        self.min_refetch = min_refetch
        self.timeout = timeout
        self.clock = clock
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def _url(self) -> str:
        if self.keys_url is None:
            document = fetch_json(f"{self.issuer}/.well-known/openid-configuration",
                                  self.timeout)
            url = document.get("jwks_uri")
            if not isinstance(url, str):
                raise KeyUnavailable(f"the openid-configuration of {self.issuer} names no "
                                     "jwks_uri")
            self.keys_url = url
        return self.keys_url

    def _fetch(self) -> None:
        self._fetched_at = self.clock()
        data = fetch_json(self._url(), self.timeout)
        try:
            key_set = jwt.PyJWKSet.from_dict(data)
        except (jwt.PyJWKSetError, jwt.InvalidKeyError) as exc:
            raise KeyUnavailable(f"the key set of {self.issuer} is not usable: {exc}") from None
        self._keys = {key.key_id: key for key in key_set.keys
                      if key.algorithm_name in ASYMMETRIC
                      and key.public_key_use in (None, "sig")}

    def key(self, kid: str | None) -> jwt.PyJWK:
        """The key with id ``kid`` (None: the set's only key); KeyUnavailable when
        there is none, even after a fetch allowed by the rate limit."""
        with self._lock:
            if self._fetched_at is None:
                self._fetch()
            found = self._pick(kid)
            if found is None and self.clock() - (self._fetched_at or 0) >= self.min_refetch:
                self._fetch()
                found = self._pick(kid)
        if found is None:
            raise KeyUnavailable(f"the issuer {self.issuer} has no signing key {kid!r}")
        return found

    def _pick(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)
