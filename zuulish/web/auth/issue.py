"""Tokens zuulish signs itself (``zuulish create-auth-token``), as Zuul's
``zuul-admin create-auth-token``: the user in ``sub`` (the authenticator's
``uid_claim``) and the tenants it may administer in the ``zuul.admin`` claim,
which the authenticator must let decide (``allow_authz_override``)."""

from __future__ import annotations

import time

import jwt

from zuulish.errors import UserError
from zuulish.web.auth.settings import Authenticator


def make_token(auth: Authenticator, user: str, tenants: list[str], expires_in: int,
               now: float | None = None) -> str:
    """A token of ``auth`` for ``user``, admin of ``tenants``, valid ``expires_in``
    seconds; UserError when zuulish cannot sign for ``auth`` or it would grant nothing."""
    if not auth.can_sign():
        why = ("its tokens are signed by the OpenID Connect provider" if
               auth.driver == "OpenIDConnect" else "it has no private_key")
        raise UserError(f"authenticator {auth.name!r} ({auth.driver}) cannot sign tokens: "
                        f"{why}; use an HS256 authenticator, or an RS256 one with a "
                        "private_key")
    if not auth.allow_authz_override:
        raise UserError(f"authenticator {auth.name!r} does not set allow_authz_override: "
                        "true, so the token's zuul.admin claim would grant nothing")
    if expires_in <= 0:
        raise UserError(f"--expires-in must be a positive number of seconds, not "
                        f"{expires_in}")
    if auth.max_validity_time is not None and expires_in > auth.max_validity_time:
        raise UserError(f"--expires-in {expires_in} is longer than authenticator "
                        f"{auth.name!r}'s max_validity_time ({auth.max_validity_time} s): "
                        "the token would be refused before it expires")
    issued = int(time.time() if now is None else now)
    claims = {"iss": auth.issuer_id, "aud": auth.client_id, "iat": issued,
              "exp": issued + expires_in, auth.uid_claim: user,
              "zuul": {"admin": list(tenants)}}
    if auth.uid_claim != "sub":
        claims["sub"] = user
    key = auth.secret if auth.driver == "HS256" else auth.private_key
    return jwt.encode(claims, key, algorithm=auth.driver)
