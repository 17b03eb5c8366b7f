"""Who zuulish is to GitHub: a GitHub App, or a user's personal token.

As an App, the app's private key (PEM, RS256) signs a short JWT (issued a minute in
the past to allow for clock skew, valid under ten minutes, ``iss`` the app id) that
is only good for the App's own calls: finding which installation of the App covers a
repository (``GET /repos/{owner}/{repo}/installation``, cached) and getting that
installation's token (``POST /app/installations/{id}/access_tokens``). Installation
tokens are cached until ``refresh_margin`` seconds before they expire, and dropped
when GitHub refuses one (401) so that the call is made once more with a new token.

No token or key is ever logged; rate-limit budgets are named by installation id.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from zuulish.clock import Clock
from zuulish.drivers.github.errors import GitHubApiError, error_from_response
from zuulish.drivers.github.transport import Transport
from zuulish.errors import ConfigError

log = logging.getLogger(__name__)

JWT_BACKDATE = 60.0  # iat this far in the past (GitHub's advice, for clock skew)
JWT_LIFETIME = 540.0  # exp this far ahead of now (GitHub's maximum: 600 s)
REFRESH_MARGIN = 300.0  # fetch a new installation token this long before it expires


@dataclass(frozen=True)
class Credentials:
    authorization: str  # the Authorization header's value
    bucket: str  # the rate-limit budget it draws on (no secret in it)


class Auth(Protocol):
    def credentials(self, owner: str, repo: str) -> Credentials:
        """What to send for a call on ``owner/repo``."""
        ...

    def renew(self, owner: str, repo: str, refused: Credentials) -> bool:
        """Forget ``refused``, the credentials GitHub just answered 401 to; True when
        asking again with new ones makes sense."""
        ...


class TokenAuth:
    """A personal access token (the ``api_token`` option): one budget, never renewed."""

    def __init__(self, token: str):
        if not token or any(c.isspace() for c in token):
            raise ConfigError("api_token must be a token without spaces")
        self._header = f"Bearer {token}"

    def credentials(self, owner: str, repo: str) -> Credentials:
        return Credentials(self._header, "token")

    def renew(self, owner: str, repo: str, refused: Credentials) -> bool:
        return False

    def __repr__(self) -> str:
        return "TokenAuth(<hidden>)"


@dataclass
class _Token:
    value: str
    expires: float  # epoch seconds


class AppAuth:
    """A GitHub App: JWTs from its key, installation tokens per installation."""

    def __init__(self, app_id: str | int, private_key: str | bytes, transport: Transport,
                 clock: Clock, *, refresh_margin: float = REFRESH_MARGIN):
        self.app_id = str(app_id)
        if not self.app_id.isdigit():
            raise ConfigError(f"app_id must be the App's number, not {app_id!r}")
        self._key = _load_key(private_key)
        self.transport = transport
        self.clock = clock
        self.refresh_margin = refresh_margin
        self._installations: dict[tuple[str, str], int] = {}
        self._tokens: dict[int, _Token] = {}
        self._lock = threading.Lock()  # guards the caches
        self._fetching: dict[int, threading.Lock] = {}  # one token fetch per installation

    @classmethod
    def from_key_file(cls, app_id: str | int, key_file: Path, transport: Transport,
                      clock: Clock) -> AppAuth:
        try:
            pem = key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the App's private key {key_file}: "
                              f"{exc.strerror}") from None
        return cls(app_id, pem, transport, clock)

    def app_jwt(self) -> str:
        """A JWT for the App's own calls, signed now."""
        now = int(self.clock.now())
        claims = {"iat": now - int(JWT_BACKDATE), "exp": now + int(JWT_LIFETIME),
                  "iss": self.app_id}
        return jwt.encode(claims, self._key, algorithm="RS256")

    def installation_id(self, owner: str, repo: str) -> int:
        """The id of the App's installation that covers ``owner/repo`` (cached)."""
        key = (owner.lower(), repo.lower())
        with self._lock:
            if key in self._installations:
                return self._installations[key]
        body = self._app_call("GET", f"/repos/{owner}/{repo}/installation")
        inst = body.get("id") if isinstance(body, dict) else None
        if not isinstance(inst, int):
            raise GitHubApiError(f"GET /repos/{owner}/{repo}/installation", 200,
                                 "answer has no installation id")
        with self._lock:
            self._installations[key] = inst
        return inst

    def installation_token(self, installation_id: int) -> str:
        """A token of the installation valid for at least ``refresh_margin`` more seconds."""
        with self._lock:
            fetching = self._fetching.setdefault(installation_id, threading.Lock())
        with fetching:  # threads that need the same token wait for one fetch
            with self._lock:
                cached = self._tokens.get(installation_id)
            if cached and cached.expires - self.refresh_margin > self.clock.now():
                return cached.value
            path = f"/app/installations/{installation_id}/access_tokens"
            body = self._app_call("POST", path)
            token = body.get("token") if isinstance(body, dict) else None
            expires = _parse_time(body.get("expires_at")) if isinstance(body, dict) else None
            if not isinstance(token, str) or expires is None:
                raise GitHubApiError(f"POST {path}", 201, "answer has no token or expires_at")
            with self._lock:
                self._tokens[installation_id] = _Token(token, expires)
            log.info("new token for GitHub App %s installation %s, valid until %s",
                     self.app_id, installation_id, body.get("expires_at"))
            return token

    def credentials(self, owner: str, repo: str) -> Credentials:
        inst = self.installation_id(owner, repo)
        return Credentials(f"token {self.installation_token(inst)}", f"installation:{inst}")

    def renew(self, owner: str, repo: str, refused: Credentials) -> bool:
        with self._lock:
            inst = self._installations.get((owner.lower(), repo.lower()))
            if inst is None:
                return False
            cached = self._tokens.get(inst)
            if cached is not None and f"token {cached.value}" == refused.authorization:
                del self._tokens[inst]  # not one another thread has fetched since
        log.info("GitHub refused the token of installation %s: fetching a new one", inst)
        return True

    def _app_call(self, method: str, path: str) -> object:
        response = self.transport.request(method, path, authorization=f"Bearer {self.app_jwt()}",
                                          bucket=f"app:{self.app_id}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 300:
            raise error_from_response(f"{method} {path}", response.status_code, body,
                                      response.text)
        return body

    def __repr__(self) -> str:
        return f"AppAuth(app_id={self.app_id})"


def _load_key(pem: str | bytes) -> RSAPrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the App's private key is not a PEM private key: {exc}") from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError("the App's private key must be an RSA key (GitHub signs RS256)")
    return key


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
