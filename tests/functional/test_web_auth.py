"""Authentication and authorization of the web API and pages over real HTTP on
127.0.0.1: authenticators read from a real zuulish.yaml, rules from a real tenant
file, an OpenID Connect issuer serving its keys on 127.0.0.1, tokens made with PyJWT."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import jwt
import pytest

from tests.fakes.auth_web import SECRET, Api, serve_auth_app
from zuulish.cli import main
from zuulish.store import EventRow


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_auth_app(tmp_path_factory.mktemp("auth")) as served_api:
        yield served_api


PRIVATE = ["/api/tenant/t/status", "/api/tenant/t/builds", "/api/tenant/t/config-errors",
           "/api/build/build-1", "/api/build/build-1/console-stream",
           "/logs/build-1/job-output.txt", "/t/t/status", "/t/t/builds", "/build/build-1"]


def test_a_tenant_with_access_rules_hides_everything_from_anonymous_callers(api: Api) -> None:
    for path in PRIVATE:
        status, headers, body = api.call("GET", path)
        assert status == 401, path
        assert headers["WWW-Authenticate"] == 'Bearer realm="example"', path
        assert "Make it fast" not in body and "private output" not in body, path
        if path.startswith("/api/"):
            assert json.loads(body) == {"error": "authentication required"}
        else:
            assert "Sign in" in body or "Authentication required" in body
    status, tenants = api.json("/api/tenants")
    assert status == 200 and [t["name"] for t in tenants] == ["pub"]
    assert api.call("GET", "/api/tenant/pub/status")[0] == 200


def test_a_reader_of_the_tenant_sees_it(api: Api) -> None:
    reader = api.sso(groups=["t-readers"])
    for path in PRIVATE:
        if path.endswith("console-stream"):
            continue  # a websocket: the GET itself is not an upgrade
        status, _, body = api.call("GET", path, reader)
        assert status == 200, (path, body)
    status, data = api.json("/api/tenant/t/status", reader)
    assert data["tenant"] == "t"
    assert [t["name"] for t in api.json("/api/tenants", reader)[1]] == ["pub", "t"]
    assert "private output" in api.call("GET", "/logs/build-1/job-output.txt", reader)[2]


def test_a_token_matching_no_access_rule_is_forbidden_and_the_reason_is_only_logged(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "zuulish.web.auth"):
        status, headers, body = api.call("GET", "/api/tenant/t/status",
                                         api.sso(groups=["pub-readers"]))
        assert (status, json.loads(body)) == (403, {"error": "forbidden"})
        assert "WWW-Authenticate" not in headers
        expired = api.issuer.token({"aud": "dashboard", "sub": "dana",
                                    "groups": ["t-readers"]}, lifetime=-60)
        status, _, body = api.call("GET", "/api/tenant/t/builds", expired)
        assert (status, json.loads(body)) == (401, {"error": "authentication required"})
    assert "match none of the tenant's access-rules" in caplog.text
    assert "the token has expired" in caplog.text and "expired" not in body


def test_admin_actions_follow_the_admin_rules(api: Api) -> None:
    body = {"pipeline": "gate", "change": "3,1"}
    admin = api.sso(realm_access={"roles": ["ci-admin"]})
    status, _, text = api.call("POST", "/api/tenant/pub/project/org/app/enqueue", admin, body)
    assert status == 202, text
    with api.store.read() as s:  # the token's user is recorded as who asked
        assert s.get(EventRow, json.loads(text)["event"]).data["account"] == "dana"
    status, _, text = api.call("POST", "/api/tenant/pub/promote", api.sso(groups=["x"]),
                               {"pipeline": "gate", "changes": ["3"]})
    assert (status, json.loads(text)) == (403, {"error": "forbidden"})
    assert api.call("POST", "/api/tenant/pub/promote", None,
                    {"pipeline": "gate", "changes": ["3"]})[0] == 401


def test_info_says_how_the_dashboard_signs_in(api: Api) -> None:
    status, data = api.json("/api/tenant/t/info")
    assert status == 200
    auth = data["info"]["capabilities"]["auth"]
    assert auth["default_realm"] == "example" and auth["read_protected"] is True
    assert auth["realms"]["example"] == {"authority": api.issuer.url, "client_id": "dashboard",
                                         "scope": "openid profile", "type": "JWT",
                                         "driver": "OpenIDConnect"}
    assert api.json("/api/tenant/pub/info")[1]["info"]["capabilities"]["auth"][
        "read_protected"] is False
    assert api.json("/api/tenant/nope/info")[0] == 404


def test_authorizations_say_what_the_caller_may_do(api: Api) -> None:
    admin = api.sso(realm_access={"roles": ["ci-admin"]})
    status, data = api.json("/api/tenant/pub/authorizations", admin)
    assert status == 200 and data["zuul"] == {"admin": True, "scope": ["pub"]}
    assert data["uid"] == "dana"
    status, data = api.json("/api/tenant/t/authorizations")
    assert data["zuul"]["admin"] is False and data["read"] is False


def test_pages_show_only_the_tenants_anyone_may_read(api: Api) -> None:
    status, _, body = api.call("GET", "/changes")
    assert status == 200
    assert 'href="/t/pub/status"' in body and 'href="/t/t/status"' not in body


def test_create_auth_token_round_trip(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(api.config), "create-auth-token", "--auth-config", "ops",
                 "--tenant", "pub", "--user", "carol", "--expires-in", "120"]) == 0
    made = capsys.readouterr().out.strip()
    claims = jwt.decode(made, SECRET, algorithms=["HS256"], audience="zuulish")
    assert claims["sub"] == "carol" and claims["zuul"] == {"admin": ["pub"]}
    assert claims["exp"] - claims["iat"] == 120 and claims["iat"] <= time.time()
    body = {"pipeline": "gate", "change": "3,1"}
    status, _, text = api.call("POST", "/api/tenant/pub/project/org/app/dequeue", made, body)
    assert status == 202, text
    # it makes carol admin of pub only
    status, _, _ = api.call("POST", "/api/tenant/t/project/org/app/dequeue", made, body)
    assert status == 403


@pytest.mark.parametrize("args, message", [
    (["--auth-config", "sso"], "authenticator 'sso' (OpenIDConnect) cannot sign tokens"),
    (["--auth-config", "nope"], "no authenticator named 'nope'"),
    (["--auth-config", "ops", "--expires-in", "0"], "--expires-in must be a positive"),
])
def test_create_auth_token_refuses_what_it_cannot_sign(
        api: Api, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    argv = ["-c", str(api.config), "create-auth-token", "--tenant", "pub", "--user", "u",
            *args]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
