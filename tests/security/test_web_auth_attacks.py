"""Attacks on the web API's authentication and authorization: forged, confused and
replayed tokens, claims shaped to slip through the rules, and paths shaped to slip
past the check. Over real HTTP on 127.0.0.1 where the web layer is the subject."""

from __future__ import annotations

import base64
import hashlib
import hmac as hmac_
import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.fakes.auth_web import SECRET, Api, serve_auth_app
from tests.fakes.oidc_issuer import Issuer, public_pem, rsa_key, serve_issuer
from zuulish.config.auth_rules import AuthRule, TenantAuthRules
from zuulish.web.auth.authorizer import Authorizer
from zuulish.web.auth.settings import Authenticator, AuthSettings


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_auth_app(tmp_path_factory.mktemp("attacks")) as served_api:
        yield served_api


GENERIC = ({"error": "authentication required"}, {"error": "forbidden"})


def refused(api: Api, path: str, token: str | None, status: int = 401,
            method: str = "GET", body: object = None) -> None:
    """The request is refused with ``status`` and a body that says nothing more."""
    got, _, text = api.call(method, path, token, body)
    assert got == status, (path, got, text)
    assert json.loads(text) in GENERIC


def issuer_public_pem(api: Api) -> bytes:
    return api.issuer.keys["k1"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_alg_none_is_refused(api: Api) -> None:
    claims = {"iss": api.issuer.url, "aud": "dashboard", "sub": "eve", "exp": 2**31,
              "groups": ["t-readers"]}
    unsigned = jwt.encode(claims, None, algorithm="none")
    refused(api, "/api/tenant/t/status", unsigned)
    # and hand-made, with the header's alg in other spellings
    for alg in ("none", "None", "NONE"):
        head = base64.urlsafe_b64encode(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        body = base64.urlsafe_b64encode(json.dumps(claims).encode())
        token = f"{head.decode().rstrip('=')}.{body.decode().rstrip('=')}."
        refused(api, "/api/tenant/t/status", token)


def test_hs256_signed_with_the_issuers_public_key_is_refused(api: Api) -> None:
    """Key confusion: the public key used as an HMAC secret."""
    claims = {"iss": api.issuer.url, "aud": "dashboard", "sub": "eve", "exp": 2**31,
              "groups": ["t-readers"]}
    pem = issuer_public_pem(api)
    header = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    signing = b".".join(base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=")
                        for p in (header, claims))
    signature = base64.urlsafe_b64encode(
        hmac_.new(pem, signing, hashlib.sha256).digest()).rstrip(b"=")
    refused(api, "/api/tenant/t/status", (signing + b"." + signature).decode())


def test_a_token_signed_by_another_key_under_the_issuers_kid_is_refused(api: Api) -> None:
    forged = api.issuer.token({"aud": "dashboard", "sub": "eve", "groups": ["t-readers"]},
                              kid="k1", key=rsa_key())
    refused(api, "/api/tenant/t/status", forged)


def test_made_up_key_ids_do_not_make_zuulish_hammer_the_issuer(api: Api) -> None:
    api.call("GET", "/api/tenant/t/status", api.sso(groups=["t-readers"]))  # keys cached
    before = api.issuer.requests["/jwks"]
    attacker = rsa_key()
    for n in range(20):
        refused(api, "/api/tenant/t/status",
                api.issuer.token({"aud": "dashboard", "sub": "eve"}, kid=f"kid-{n}",
                                 key=attacker))
    assert api.issuer.requests["/jwks"] == before


def test_a_forged_zuul_admin_claim_grants_nothing_without_override(api: Api) -> None:
    token = api.sso(zuul={"admin": ["pub", "t"]}, groups=["t-readers"])
    refused(api, "/api/tenant/pub/promote", token, 403, "POST",
            {"pipeline": "gate", "changes": ["3"]})


def test_zuul_admin_is_matched_by_whole_tenant_names(api: Api) -> None:
    for claim in ("tpub", ["tpub"], ["p", "u", "b"], {"pub": True}):
        now = 1_700_000_000
        token = jwt.encode({"iss": "zuulish_operator", "aud": "zuulish", "sub": "eve",
                            "iat": now, "exp": 2**31, "zuul": {"admin": claim}},
                           SECRET)
        refused(api, "/api/tenant/pub/promote", token, 403, "POST",
                {"pipeline": "gate", "changes": ["3"]})


def test_the_tenant_placeholder_is_not_read_from_the_token(api: Api) -> None:
    refused(api, "/api/tenant/t/status", api.sso(groups=["{tenant.name}-readers"]), 403)
    refused(api, "/api/tenant/t/status", api.sso(groups={"t-readers": True}), 403)
    refused(api, "/api/tenant/t/status", api.sso(groups=[["t-readers"]]), 403)


def test_a_token_of_another_audience_or_user_shape_is_refused(api: Api) -> None:
    refused(api, "/api/tenant/t/status",
            api.issuer.token({"aud": "another-app", "sub": "eve", "groups": ["t-readers"]}))
    refused(api, "/api/tenant/t/status", api.sso(sub=["root"], groups=["t-readers"]))


@pytest.mark.parametrize("header", ["Basic ZXZlOmV2ZQ==", "Bearer", "Bearer    ",
                                    "Bearer " + "A" * 6000, "Bearer a.b.c",
                                    "Bearer " + "é.é.é"])
def test_malformed_authorization_headers_get_a_plain_401(api: Api, header: str) -> None:
    parts = urlsplit(api.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("GET", "/api/tenant/t/status")
        conn.putheader("Authorization", header.encode("utf-8"))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 401
        assert json.loads(response.read()) == {"error": "authentication required"}
    finally:
        conn.close()


@pytest.mark.parametrize("path", [
    "/api/tenant/%74/status", "/api/tenant/t/status/", "/API/tenant/t/status",
    "/api/tenant/pub/../t/status", "/api/tenant/t%2Fstatus", "/t/%74/status",
    "/logs/build-1/../build-1/job-output.txt", "/logs/build-1/job-output.txt?x=1",
    "/api/build/build-1?tenant=pub", "/build/%62uild-1",
])
def test_paths_shaped_to_dodge_the_check_do_not_show_the_tenant(api: Api, path: str) -> None:
    status, _, body = api.call("GET", path)
    assert status in (400, 401, 403, 404), (path, status)
    assert "Make it fast" not in body and "private output" not in body


# ------------------------------------------------------------ against the decision point


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with serve_issuer() as served:
        yield served


def test_a_symmetric_key_published_in_the_jwks_is_never_used(issuer: Issuer) -> None:
    secret = b"a-shared-secret-the-attacker-put-in-the-jwks"
    issuer.extra_jwks = [{"kty": "oct", "kid": "sym", "alg": "HS256",
                          "k": base64.urlsafe_b64encode(secret).decode().rstrip("=")}]
    try:
        auth = Authenticator("sso", "OpenIDConnect", issuer.url, "dashboard")
        rules = TenantAuthRules(admin=(AuthRule("all", (((("sub",), "eve"),),)),))
        decider = Authorizer(AuthSettings({"sso": auth}), {"t": rules}.get)
        token = jwt.encode({"iss": issuer.url, "aud": "dashboard", "sub": "eve",
                            "exp": 2**31}, secret, algorithm="HS256", headers={"kid": "sym"})
        decision = decider.decide(f"Bearer {token}", "t", "admin")
        assert decision.status == 401 and "no signing key 'sym'" in decision.reason
    finally:
        issuer.extra_jwks = []


def test_hs256_token_is_refused_by_an_rs256_authenticator() -> None:
    key = rsa_key()
    pem = public_pem(key)
    auth = Authenticator("signer", "RS256", "signer", "zuulish", public_key=pem.decode())
    rules = TenantAuthRules(admin=(AuthRule("all", (((("sub",), "eve"),),)),))
    decider = Authorizer(AuthSettings({"signer": auth}), {"t": rules}.get)
    claims = {"iss": "signer", "aud": "zuulish", "sub": "eve", "exp": 2**31}
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    sig = base64.urlsafe_b64encode(hmac_.new(pem, header + b"." + body,
                                             hashlib.sha256).digest()).rstrip(b"=")
    decision = decider.decide(f"Bearer {(header + b'.' + body + b'.' + sig).decode()}", "t",
                              "admin")
    assert decision.status == 401 and "algorithm is not RS256" in decision.reason
    good = jwt.encode(claims, key, algorithm="RS256")
    assert decider.decide(f"Bearer {good}", "t", "admin").allowed


def test_a_private_tenants_management_events_are_not_read_by_id(api: Api) -> None:
    """Event ids are small whole numbers: walking them must not reveal what was done to
    a tenant with access-rules (the outcome names its pipelines and changes)."""
    from zuulish.scheduler import management

    data = management.request_data("dequeue", "t", "gate", project="org/app", change="3")
    event_id = management.record(api.store, "dequeue", data, lambda: 1.0, "dana")
    refused(api, f"/api/event/{event_id}", None)
    refused(api, f"/api/event/{event_id}", api.sso(groups=["pub-readers"]), 403)
    status, event = api.json(f"/api/event/{event_id}", api.sso(groups=["t-readers"]))
    assert status == 200 and event["type"] == "dequeue" and "tenant" not in event
