"""The Authorizer's decisions: which tokens it accepts, and what their claims allow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from tests.fakes.oidc_issuer import Issuer, public_pem, rsa_key, serve_issuer
from zuulish.config.auth_rules import AuthRule, TenantAuthRules
from zuulish.web.auth.authorizer import ADMIN_OFF, Authorizer
from zuulish.web.auth.settings import Authenticator, AuthSettings

SECRET = "an-hs256-secret-of-at-least-32-characters"
RSA = rsa_key()
ADMINS = AuthRule("admins", (((("groups",), "admins"),),))
READERS = AuthRule("readers", (((("groups",), "{tenant.name}-readers"),),))
RULES = {"open": TenantAuthRules(admin=(ADMINS,)),
         "private": TenantAuthRules(admin=(ADMINS,), access=(READERS,))}


def hs256(**options: Any) -> Authenticator:
    return Authenticator(**{"name": "ops", "driver": "HS256", "issuer_id": "zuulish_ops",
                            "client_id": "zuulish", "secret": SECRET, "realm": "corp",
                            **options})


def rs256(**options: Any) -> Authenticator:
    return Authenticator(**{"name": "signer", "driver": "RS256", "issuer_id": "signer",
                            "client_id": "zuulish", "public_key": public_pem(RSA).decode(),
                            **options})


def authorizer(*auths: Authenticator, admin_token: str | None = None,
               min_refetch: float = 60.0) -> Authorizer:
    return Authorizer(AuthSettings({a.name: a for a in auths}), RULES.get, admin_token,
                      min_refetch=min_refetch)


def token(claims: dict[str, Any], key: Any = SECRET, algorithm: str = "HS256",
          headers: dict[str, Any] | None = None, lifetime: int = 300) -> str:
    now = int(time.time())
    body = {"iss": "zuulish_ops", "aud": "zuulish", "sub": "alice", "iat": now,
            "exp": now + lifetime, **claims}
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


def bearer(value: str) -> str:
    return f"Bearer {value}"


def test_reads_of_a_tenant_without_access_rules_are_open() -> None:
    decision = authorizer(hs256()).decide(None, "open", "read")
    assert decision.allowed and decision.identity is None


def test_no_auth_and_no_admin_token_keeps_admin_actions_off() -> None:
    decision = authorizer().decide(bearer("anything"), "open", "admin")
    assert (decision.allowed, decision.status, decision.message) == (False, 403, ADMIN_OFF)


def test_the_static_admin_token_may_do_everything() -> None:
    auth = authorizer(admin_token="a-static-token-for-the-embedded-mode")
    for tenant, action in (("open", "admin"), ("private", "read"), ("private", "admin")):
        decision = auth.decide(bearer("a-static-token-for-the-embedded-mode"), tenant, action)
        assert decision.allowed and decision.identity == "admin-token"
    assert auth.decide(bearer("a-static-token-for-the-embedded-modE"), "open",
                       "admin").status == 401


def test_a_token_matching_an_admin_rule_may_act_on_the_tenant() -> None:
    decision = authorizer(hs256()).decide(bearer(token({"groups": ["admins"]})), "open",
                                          "admin")
    assert decision.allowed and decision.identity == "alice"


def test_a_valid_token_matching_no_rule_is_forbidden() -> None:
    decision = authorizer(hs256()).decide(bearer(token({"groups": ["dev"]})), "open", "admin")
    assert (decision.status, decision.message, decision.identity) == (403, "forbidden",
                                                                      "alice")
    assert "alice: the token's claims match none of the tenant's admin-rules" in \
        decision.reason


@pytest.mark.parametrize("claims, lifetime, reason", [
    ({}, -60, "expired"),
    ({"nbf": int(time.time()) + 3600}, 7200, "not valid yet"),
    ({"iat": int(time.time()) + 3600}, 7200, "not valid yet"),
    ({"aud": "someone-else"}, 300, "InvalidAudienceError"),
    ({"aud": None}, 300, "MissingRequiredClaimError"),
    ({"exp": None}, 300, "MissingRequiredClaimError"),
    ({"sub": None}, 300, "no user in its 'sub' claim"),
])
def test_invalid_tokens_are_refused_with_401_and_a_reason_for_the_log(
        claims: dict[str, Any], lifetime: int, reason: str) -> None:
    given = token({}, lifetime=lifetime)
    body = jwt.decode(given, options={"verify_signature": False})
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    decision = authorizer(hs256()).decide(bearer(jwt.encode(body, SECRET)), "private", "read")
    assert (decision.status, decision.message) == (401, "authentication required")
    assert decision.headers == {"WWW-Authenticate": 'Bearer realm="corp"'}
    assert reason in decision.reason


def test_skew_lets_a_just_expired_token_through() -> None:
    given = bearer(token({"groups": ["private-readers"]}, lifetime=-5))
    assert authorizer(hs256()).decide(given, "private", "read").status == 401
    assert authorizer(hs256(skew=30)).decide(given, "private", "read").allowed


def test_max_validity_time_refuses_old_tokens_and_needs_iat() -> None:
    old = token({"groups": ["private-readers"], "iat": int(time.time()) - 1000},
                lifetime=3600)
    assert authorizer(hs256()).decide(bearer(old), "private", "read").allowed
    decision = authorizer(hs256(max_validity_time=600)).decide(bearer(old), "private", "read")
    assert decision.status == 401 and "max_validity_time" in decision.reason
    body = jwt.decode(token({"groups": ["private-readers"]}),
                      options={"verify_signature": False})
    del body["iat"]
    decision = authorizer(hs256(max_validity_time=600)).decide(
        bearer(jwt.encode(body, SECRET)), "private", "read")
    assert decision.status == 401 and "iat" in decision.reason


def test_wrong_issuer_and_wrong_signature_are_refused() -> None:
    auth = authorizer(hs256())
    other_iss = auth.decide(bearer(token({"iss": "someone"})), "private", "read")
    assert other_iss.status == 401 and "no authenticator accepts" in other_iss.reason
    forged = auth.decide(bearer(token({}, key="another-secret-of-32-characters-or-more")),
                         "private", "read")
    assert forged.status == 401 and "InvalidSignatureError" in forged.reason


def test_rs256_tokens_are_checked_with_the_public_key() -> None:
    auth = authorizer(rs256())
    good = token({"iss": "signer", "groups": ["admins"]}, key=RSA, algorithm="RS256")
    assert auth.decide(bearer(good), "open", "admin").allowed
    stranger = token({"iss": "signer"}, key=rsa_key(), algorithm="RS256")
    assert auth.decide(bearer(stranger), "open", "admin").status == 401


def test_access_rules_need_a_matching_token_and_admins_may_read() -> None:
    auth = authorizer(hs256())
    assert auth.decide(None, "private", "read").status == 401
    assert auth.decide(bearer(token({"groups": ["dev"]})), "private", "read").status == 403
    assert auth.decide(bearer(token({"groups": ["private-readers"]})), "private",
                       "read").allowed
    assert auth.decide(bearer(token({"groups": ["open-readers"]})), "private",
                       "read").status == 403
    assert auth.decide(bearer(token({"groups": ["admins"]})), "private", "read").allowed


def test_zuul_admin_claim_decides_only_where_override_is_allowed() -> None:
    claims = {"zuul": {"admin": ["open"]}}
    assert not authorizer(hs256()).decide(bearer(token(claims)), "open", "admin").allowed
    auth = authorizer(hs256(allow_authz_override=True))
    assert auth.decide(bearer(token(claims)), "open", "admin").allowed
    # a token for another tenant
    other = auth.decide(bearer(token(claims)), "private", "admin")
    assert other.status == 403 and "does not list the tenant" in other.reason
    # the claim decides alone: matching an admin rule does not add tenants
    both = {"zuul": {"admin": ["open"]}, "groups": ["admins"]}
    assert auth.decide(bearer(token(both)), "private", "admin").status == 403


def test_readable_lists_only_tenants_the_caller_may_read() -> None:
    auth = authorizer(hs256())
    assert auth.readable(None, ["open", "private"]) == ["open"]
    assert auth.readable(bearer("garbage"), ["open", "private"]) == ["open"]
    reader = bearer(token({"groups": ["private-readers"]}))
    assert auth.readable(reader, ["open", "private"]) == ["open", "private"]


def test_authorizations_say_what_the_caller_may_do() -> None:
    auth = authorizer(hs256())
    admin = auth.authorizations(bearer(token({"groups": ["admins"]})), "open")
    assert admin["zuul"] == {"admin": True, "scope": ["open"]} and admin["uid"] == "alice"
    assert "enqueue" in admin["actions"]
    nobody = auth.authorizations(None, "private")
    assert nobody["zuul"]["admin"] is False and nobody["read"] is False


# ------------------------------------------------------------- OpenID Connect


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with serve_issuer() as served:
        yield served


def oidc(issuer: Issuer, **options: Any) -> Authenticator:
    return Authenticator(**{"name": "sso", "driver": "OpenIDConnect",
                            "issuer_id": issuer.url, "client_id": "dashboard", **options})


def test_oidc_keys_are_discovered_fetched_once_and_cached(issuer: Issuer) -> None:
    issuer.requests.clear()
    auth = authorizer(oidc(issuer))
    for _ in range(3):
        given = issuer.token({"aud": "dashboard", "sub": "bob", "groups": ["admins"]})
        assert auth.decide(bearer(given), "open", "admin").allowed
    assert issuer.requests == {"/.well-known/openid-configuration": 1, "/jwks": 1}


def test_oidc_keys_url_skips_discovery(issuer: Issuer) -> None:
    issuer.requests.clear()
    auth = authorizer(oidc(issuer, keys_url=f"{issuer.url}/jwks"))
    given = issuer.token({"aud": "dashboard", "groups": ["admins"], "sub": "bob"})
    assert auth.decide(bearer(given), "open", "admin").allowed
    assert issuer.requests == {"/jwks": 1}


def test_a_rotated_key_is_fetched_but_unknown_kids_are_rate_limited(issuer: Issuer) -> None:
    auth = authorizer(oidc(issuer), min_refetch=0.0)
    first = issuer.token({"aud": "dashboard", "groups": ["admins"], "sub": "bob"})
    assert auth.decide(bearer(first), "open", "admin").allowed
    issuer.keys["k2"] = rsa_key()  # the issuer rotates its keys
    try:
        rotated = issuer.token({"aud": "dashboard", "groups": ["admins"], "sub": "bob"},
                               kid="k2")
        assert auth.decide(bearer(rotated), "open", "admin").allowed
    finally:
        del issuer.keys["k2"]
    limited = authorizer(oidc(issuer), min_refetch=3600.0)
    assert limited.decide(bearer(first), "open", "admin").allowed
    issuer.requests.clear()
    for n in range(5):
        made_up = issuer.token({"aud": "dashboard", "sub": "x"}, kid=f"nope-{n}",
                               key=rsa_key())
        decision = limited.decide(bearer(made_up), "open", "admin")
        assert decision.status == 401 and "no signing key" in decision.reason
    assert issuer.requests["/jwks"] == 0
