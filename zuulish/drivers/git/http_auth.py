"""Who sends a request to the forge over HTTP: a user, the components, or nobody.

Users send HTTP basic authentication (their name and a token) or
``Authorization: Bearer <token>`` (:mod:`zuulish.store.users`). Mergers and
executors on any host send the components' credential: the user
``zuulish-component`` with a password derived from the server's master key
(``secrets.key``, which every component host has), an HMAC of a fixed label, so
nothing more is stored or handed out. It reads every repository and pushes none.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from zuulish.merger.credentials import HttpCredentials, ScopedCredentials
from zuulish.secrets import master_key
from zuulish.store import Store
from zuulish.store.users import authenticate

COMPONENT_USER = "zuulish-component"
COMPONENT_LABEL = b"zuulish forge: components read repositories over HTTP"
#: what a 401 answers with (git then asks its credential helper or the terminal)
CHALLENGE = {"WWW-Authenticate": 'Basic realm="zuulish forge", charset="UTF-8"'}


@dataclass(frozen=True)
class Identity:
    """Who a request comes from; ``name`` None: nobody (anonymous)."""

    name: str | None = None
    admin: bool = False
    component: bool = False

    @property
    def anonymous(self) -> bool:
        return self.name is None

    @property
    def may_push(self) -> bool:
        return self.name is not None and not self.component


ANONYMOUS = Identity()


def component_password(state_dir: Path) -> str:
    """The components' password, derived from ``state_dir/secrets.key``."""
    master_key(state_dir)  # made 0600 on first use, as for secrets
    key = (Path(state_dir) / "secrets.key").read_bytes().strip()
    return hmac.new(key, COMPONENT_LABEL, hashlib.sha256).hexdigest()


def component_credentials(url: str, state_dir: Path, *,
                          allow_plain_http: bool) -> ScopedCredentials:
    """The credentials mergers and executors fetch ``url``'s repositories with
    (computed when first asked: a CLI command never reads the key)."""
    found: list[HttpCredentials] = []

    def supply(_url: str) -> HttpCredentials:
        if not found:
            found.append(HttpCredentials(COMPONENT_USER, component_password(state_dir)))
        return found[0]

    return ScopedCredentials(url + "/", supply, allow_plain_http=allow_plain_http)


class Authenticator:
    """Reads a request's ``Authorization`` header (blocking: it reads the store)."""

    def __init__(self, store: Store, state_dir: Path):
        self.store = store
        self.state_dir = Path(state_dir)
        self._component: str | None = None

    def identify(self, header: str | None) -> Identity | None:
        """The identity the header proves; ANONYMOUS without a header; None when
        the header is there but proves nothing (a wrong, revoked or bad token)."""
        if not header:
            return ANONYMOUS
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            user = authenticate(self.store, value)
            return None if user is None else Identity(user.name, user.admin)
        if scheme.lower() != "basic" or not value:
            return None
        try:
            pair = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, sep, password = pair.partition(":")
        if not sep or not name or not password:
            return None
        if name == COMPONENT_USER:
            if self._component is None:
                self._component = component_password(self.state_dir)
            if hmac.compare_digest(password.encode(), self._component.encode()):
                return Identity(COMPONENT_USER, component=True)
            return None
        user = authenticate(self.store, password, name)
        return None if user is None else Identity(user.name, user.admin)
