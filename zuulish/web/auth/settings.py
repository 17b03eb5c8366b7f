"""The ``auth:`` section of ``zuulish.yaml``: named authenticators, as Zuul's
``[auth <name>]`` sections.

Example::

    auth:
      keycloak:
        driver: OpenIDConnect          # tokens of an OpenID Connect provider
        realm: example
        issuer_id: https://keycloak.example.com/realms/example
        client_id: zuulish
        default: true                  # the one the dashboard signs in with
        # keys_url: ...                # default: the issuer's openid-configuration
        # scope: openid profile
      operator:
        driver: HS256                  # tokens signed with a shared secret
        realm: example
        issuer_id: zuulish_operator
        client_id: zuulish.example.com
        secret: a-long-random-string-of-32-or-more-characters
        allow_authz_override: true     # the token's zuul.admin claim decides
        max_validity_time: 3600
        skew: 5

Every authenticator needs ``driver``, ``issuer_id`` (the tokens' ``iss``) and
``client_id`` (their ``aud``); ``RS256`` also ``public_key`` (a PEM file) and
optionally ``private_key`` (what ``zuulish create-auth-token`` signs with).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from zuulish.config.yaml_loader import key_line, where
from zuulish.errors import ConfigError

DRIVERS = ("HS256", "RS256", "OpenIDConnect")
COMMON_KEYS = {"driver", "realm", "issuer_id", "client_id", "default", "allow_authz_override",
               "max_validity_time", "skew", "uid_claim"}
DRIVER_KEYS = {"HS256": {"secret"}, "RS256": {"public_key", "private_key"},
               "OpenIDConnect": {"keys_url", "scope"}}
MIN_SECRET = 32  # characters: HS256 wants a key of at least 256 bits
DEFAULT_REALM = "zuulish"
DEFAULT_SCOPE = "openid profile"


@dataclass(frozen=True)
class Authenticator:
    """One authenticator: whose tokens it accepts, and how they are checked."""

    name: str
    driver: str
    issuer_id: str
    client_id: str
    realm: str = DEFAULT_REALM
    default: bool = False
    allow_authz_override: bool = False
    max_validity_time: int | None = None  # seconds after iat a token stops being valid
    skew: int = 0  # seconds of clock skew allowed on exp, nbf and iat
    uid_claim: str = "sub"
    secret: str | None = field(default=None, repr=False)  # HS256
    public_key: str | None = None  # RS256: PEM text
    private_key: str | None = field(default=None, repr=False)  # RS256: PEM text, optional
    keys_url: str | None = None  # OpenIDConnect: JWKS (None: from discovery)
    scope: str = DEFAULT_SCOPE  # OpenIDConnect: what the dashboard asks for

    def can_sign(self) -> bool:
        """Whether zuulish itself can make this authenticator's tokens."""
        return self.driver == "HS256" or (self.driver == "RS256" and bool(self.private_key))


@dataclass(frozen=True)
class AuthSettings:
    """Every authenticator by name; empty: no tokens are accepted."""

    authenticators: dict[str, Authenticator] = field(default_factory=dict)

    def default(self) -> Authenticator | None:
        """The authenticator the dashboard signs in with: the one marked
        ``default``, else the only one."""
        marked = [a for a in self.authenticators.values() if a.default]
        if marked:
            return marked[0]
        if len(self.authenticators) == 1:
            return next(iter(self.authenticators.values()))
        return None

    def realm(self) -> str:
        chosen = self.default()
        return chosen.realm if chosen else DEFAULT_REALM


def _error(message: str, mapping: Any, key: str | None, path: Path) -> ConfigError:
    f, line = where(mapping, str(path))
    if key is not None:
        line = key_line(mapping, key) or line
    return ConfigError(message, file=str(path), line=line or None)


def _string(body: Mapping[str, Any], key: str, where_: str, path: Path,
            required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _error(f"missing required key '{where_}.{key}'", body, None, path)
        return None
    if not isinstance(value, str) or not value.strip():
        raise _error(f"key '{where_}.{key}' must be a non-empty string, not {value!r}",
                     body, key, path)
    return value


def _seconds(body: Mapping[str, Any], key: str, where_: str, path: Path,
             minimum: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive" if minimum > 0 else "a non-negative"
        raise _error(f"key '{where_}.{key}' must be {what} whole number of seconds, not "
                     f"{value!r}", body, key, path)
    return value


def _flag(body: Mapping[str, Any], key: str, where_: str, path: Path) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise _error(f"key '{where_}.{key}' must be true or false, not {value!r}", body, key,
                     path)
    return value


def _pem(body: Mapping[str, Any], key: str, where_: str, path: Path, private: bool) -> str:
    """The PEM file ``key`` names (relative to zuulish.yaml), checked to be an RSA key."""
    name = _string(body, key, where_, path, required=True)
    assert name is not None
    file = (path.parent / Path(name).expanduser()).resolve()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise _error(f"{where_}.{key}: cannot read {file}: {exc.strerror}", body, key,
                     path) from None
    try:
        key_obj: Any = (serialization.load_pem_private_key(data, password=None) if private
                        else serialization.load_pem_public_key(data))
    except (ValueError, TypeError) as exc:
        kind = "private" if private else "public"
        raise _error(f"{where_}.{key}: {file} is not an unencrypted PEM {kind} key: {exc}",
                     body, key, path) from None
    wanted = rsa.RSAPrivateKey if private else rsa.RSAPublicKey
    if not isinstance(key_obj, wanted):
        raise _error(f"{where_}.{key}: {file} is not an RSA key (RS256 signs with RSA)",
                     body, key, path)
    return data.decode()


def _public_of(private_pem: str) -> bytes:
    key: Any = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def _authenticator(name: str, body: Any, path: Path) -> Authenticator:
    where_ = f"auth.{name}"
    if not isinstance(body, Mapping):
        raise _error(f"key '{where_}' must be a mapping (driver, issuer_id, client_id, ...)",
                     body, None, path)
    driver = body.get("driver")
    if driver not in DRIVERS:
        close = difflib.get_close_matches(str(driver), DRIVERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _error(f"key '{where_}.driver' must be one of {', '.join(DRIVERS)}, not "
                     f"{driver!r}{hint}", body, "driver" if "driver" in body else None, path)
    allowed = COMMON_KEYS | DRIVER_KEYS[driver]
    for key in body:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean '{where_}.{close[0]}'?)" if close else ""
            raise _error(f"unknown key '{where_}.{key}' for the {driver} driver{hint}; "
                         f"allowed: {', '.join(sorted(allowed))}", body, str(key), path)
    options: dict[str, Any] = {}
    if driver == "HS256":
        secret = _string(body, "secret", where_, path, required=True)
        assert secret is not None
        if len(secret) < MIN_SECRET:
            raise _error(f"key '{where_}.secret' must be at least {MIN_SECRET} characters "
                         "(a shorter HS256 secret can be guessed)", body, "secret", path)
        options["secret"] = secret
    elif driver == "RS256":
        options["public_key"] = _pem(body, "public_key", where_, path, private=False)
        if "private_key" in body:
            private = _pem(body, "private_key", where_, path, private=True)
            public: Any = serialization.load_pem_public_key(options["public_key"].encode())
            if _public_of(private) != public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo):
                raise _error(f"{where_}.private_key is not the private half of "
                             f"{where_}.public_key", body, "private_key", path)
            options["private_key"] = private
    else:
        keys_url = _string(body, "keys_url", where_, path)
        if keys_url is not None and not keys_url.startswith(("https://", "http://")):
            raise _error(f"key '{where_}.keys_url' must be an http:// or https:// URL, not "
                         f"{keys_url!r}", body, "keys_url", path)
        options["keys_url"] = keys_url
        options["scope"] = _string(body, "scope", where_, path) or DEFAULT_SCOPE
    issuer = _string(body, "issuer_id", where_, path, required=True)
    if driver == "OpenIDConnect" and not str(issuer).startswith(("https://", "http://")):
        raise _error(f"key '{where_}.issuer_id' of an OpenIDConnect authenticator must be the "
                     f"issuer's URL, not {issuer!r}", body, "issuer_id", path)
    return Authenticator(
        name=name, driver=driver, issuer_id=str(issuer),
        client_id=str(_string(body, "client_id", where_, path, required=True)),
        realm=_string(body, "realm", where_, path) or DEFAULT_REALM,
        default=_flag(body, "default", where_, path),
        allow_authz_override=_flag(body, "allow_authz_override", where_, path),
        max_validity_time=_seconds(body, "max_validity_time", where_, path, 1),
        skew=_seconds(body, "skew", where_, path, 0) or 0,
        uid_claim=_string(body, "uid_claim", where_, path) or "sub",
        **options)


def parse_auth(section: Any, path: Path) -> AuthSettings:
    """The ``auth:`` section (a line-aware mapping); errors name the file and line."""
    if section is None:
        return AuthSettings()
    if not isinstance(section, Mapping):
        raise _error("key 'auth' must be a mapping of authenticator names to their "
                     "settings", section, None, path)
    authenticators = {}
    for name, body in section.items():
        if not isinstance(name, str) or not name:
            raise _error(f"an authenticator's name must be a string, not {name!r}", section,
                         None, path)
        if body is None or not isinstance(body, Mapping):
            raise _error(f"key 'auth.{name}' must be a mapping (driver, issuer_id, "
                         "client_id, ...)", section, name, path)
        authenticators[name] = _authenticator(name, body, path)
    defaults = [a.name for a in authenticators.values() if a.default]
    if len(defaults) > 1:
        raise _error(f"only one authenticator may be the default; these say 'default: "
                     f"true': {', '.join(defaults)}", section, defaults[1], path)
    return AuthSettings(authenticators)
