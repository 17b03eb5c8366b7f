"""Checking a JSON Web Token against one authenticator.

A token is accepted only when its signature is the authenticator's (HS256 with
its secret, RS256 with its public key, or an issuer key of an OpenID Connect
provider, with that key's algorithm — never ``none``, never a secret algorithm
with a public key), it has ``exp`` and has not expired, ``nbf`` and ``iat`` are
not in the future, ``iss`` is the authenticator's ``issuer_id``, ``aud`` holds
its ``client_id``, it is no older than ``max_validity_time`` (which then needs
``iat``), and it names the user in ``uid_claim``. ``skew`` seconds of clock
difference are allowed on each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt

from zuulish.web.auth.keys import IssuerKeys, KeyUnavailable
from zuulish.web.auth.settings import Authenticator


class TokenRejected(Exception):
    """The token is not valid for this authenticator; the message says why (for the
    log, never for the client)."""


def _key(auth: Authenticator, token: str, keys: IssuerKeys | None) -> tuple[Any, list[str]]:
    """The key and the one algorithm a token of ``auth`` may be signed with."""
    if auth.driver == "HS256":
        return auth.secret, ["HS256"]
    if auth.driver == "RS256":
        return auth.public_key, ["RS256"]
    assert keys is not None
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.DecodeError as exc:
        raise TokenRejected(f"malformed token: {exc}") from None
    if kid is not None and not isinstance(kid, str):
        raise TokenRejected(f"the token's kid is not a string: {kid!r}")
    try:
        found = keys.key(kid)
    except KeyUnavailable as exc:
        raise TokenRejected(f"no key to check the token with: {exc}") from None
    return found.key, [found.algorithm_name]


def validate(auth: Authenticator, token: str, keys: IssuerKeys | None = None,
             clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """The token's claims when ``auth`` accepts it; TokenRejected otherwise."""
    key, algorithms = _key(auth, token, keys)
    required = ["exp", "iss", "aud"] + (["iat"] if auth.max_validity_time else [])
    try:
        claims = jwt.decode(token, key, algorithms=algorithms, audience=auth.client_id,
                            issuer=auth.issuer_id, leeway=auth.skew,
                            options={"require": required, "verify_iat": True})
    except jwt.ExpiredSignatureError:
        raise TokenRejected("the token has expired") from None
    except jwt.ImmatureSignatureError as exc:
        raise TokenRejected(f"the token is not valid yet: {exc}") from None
    except jwt.InvalidAlgorithmError:
        raise TokenRejected(f"the token's algorithm is not {', '.join(algorithms)}, the only "
                            f"one authenticator {auth.name} accepts") from None
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(f"{type(exc).__name__}: {exc}") from None
    if auth.max_validity_time is not None:
        age = clock() - float(claims["iat"])
        if age > auth.max_validity_time + auth.skew:
            raise TokenRejected(f"the token was issued {int(age)} s ago, more than "
                                f"max_validity_time ({auth.max_validity_time} s)")
    uid = claims.get(auth.uid_claim)
    if not isinstance(uid, str) or not uid:
        raise TokenRejected(f"the token has no user in its {auth.uid_claim!r} claim")
    return claims
