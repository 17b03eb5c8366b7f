"""Keystone v3 (identity) of the fake cloud: version discovery and ``POST /v3/auth/tokens``
with password (user and project by name or id, domains by name or id) or application
credential authentication, answering a scoped token with the service catalog."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from tests.fakes.openstack.api import ApiError, Reply, Request, Routes
from tests.fakes.openstack.state import AppCredential, Domain, Project, Token, User, iso

if TYPE_CHECKING:
    from tests.fakes.openstack.server import FakeOpenStack

route = Routes()
UNAUTHORIZED = "The request you have made requires authentication."
VERSION = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"


def error_body(err: ApiError) -> dict[str, Any]:
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              405: "Method Not Allowed", 409: "Conflict", 500: "Internal Server Error",
              503: "Service Unavailable"}
    return {"error": {"code": err.status, "message": err.message,
                      "title": titles.get(err.status, "Error")}}


def version_json(fake: FakeOpenStack) -> dict[str, Any]:
    return {"id": VERSION, "status": "stable", "updated": UPDATED,
            "links": [{"rel": "self", "href": f"{fake.url}/identity/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}


@route("GET", "", authenticated=False)
def versions(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(300, {"versions": {"values": [version_json(fake)]}})


@route("GET", "/v3", authenticated=False)
def version(fake: FakeOpenStack, req: Request) -> Reply:
    return Reply(200, {"version": version_json(fake)})


def _find_domain(fake: FakeOpenStack, ref: Any) -> Domain:
    if not isinstance(ref, dict):
        raise ApiError(401, UNAUTHORIZED)
    for d in fake.domains.values():
        if ref.get("id") == d.id or ("id" not in ref and ref.get("name") == d.name):
            return d
    raise ApiError(401, UNAUTHORIZED)


def _password_user(fake: FakeOpenStack, method: dict[str, Any]) -> User:
    user_ref = method.get("user") if isinstance(method, dict) else None
    if not isinstance(user_ref, dict) or "password" not in user_ref:
        raise ApiError(400, "Invalid input for field 'identity/password/user'")
    if "id" in user_ref:
        user = fake.users.get(user_ref["id"])
    else:
        domain = _find_domain(fake, user_ref.get("domain"))
        user = next((u for u in fake.users.values()
                     if u.name == user_ref.get("name") and u.domain is domain), None)
    if user is None or not secrets.compare_digest(user.password, str(user_ref["password"])):
        raise ApiError(401, UNAUTHORIZED)
    return user


def _app_credential(fake: FakeOpenStack, method: dict[str, Any]) -> AppCredential:
    if not isinstance(method, dict) or "secret" not in method:
        raise ApiError(400, "Invalid input for field 'identity/application_credential'")
    cred: AppCredential | None = None
    if "id" in method:
        cred = fake.app_credentials.get(method["id"])
    else:
        user_ref = method.get("user") or {}
        for c in fake.app_credentials.values():
            if c.name == method.get("name") and (
                    user_ref.get("id") == c.user.id or user_ref.get("name") == c.user.name):
                cred = c
    if cred is None or not secrets.compare_digest(cred.secret, str(method["secret"])):
        raise ApiError(401, UNAUTHORIZED)
    return cred


def _scope(fake: FakeOpenStack, scope: Any) -> Project | None:
    if not scope:
        return None
    ref = scope.get("project") if isinstance(scope, dict) else None
    if not isinstance(ref, dict):
        raise ApiError(401, UNAUTHORIZED)  # domain and system scopes: not offered
    if "id" in ref:
        project = fake.projects.get(ref["id"])
    else:
        domain = _find_domain(fake, ref.get("domain"))
        project = next((p for p in fake.projects.values()
                        if p.name == ref.get("name") and p.domain is domain), None)
    if project is None:
        raise ApiError(401, UNAUTHORIZED)
    return project


@route("POST", "/v3/auth/tokens", authenticated=False)
def issue_token(fake: FakeOpenStack, req: Request) -> Reply:
    auth = req.body.get("auth") if isinstance(req.body, dict) else None
    identity = auth.get("identity") if isinstance(auth, dict) else None
    methods = identity.get("methods") if isinstance(identity, dict) else None
    if not isinstance(methods, list) or not methods:
        raise ApiError(400, "Expecting to find identity in auth. The server could not comply "
                       "with the request since it is either malformed or otherwise "
                       "incorrect. The client is assumed to be in error.")
    assert isinstance(auth, dict) and isinstance(identity, dict)
    if methods == ["password"]:
        user = _password_user(fake, identity.get("password", {}))
        project = _scope(fake, auth.get("scope"))
    elif methods == ["application_credential"]:
        cred = _app_credential(fake, identity.get("application_credential", {}))
        if auth.get("scope"):
            raise ApiError(401, "Application credentials cannot request a scope.")
        user, project = cred.user, cred.project
    else:
        raise ApiError(401, f"Attempted to authenticate with an unsupported method: {methods}")
    now = fake.clock.now()
    token = Token("gAAAAA" + secrets.token_urlsafe(48), user, project, methods, now,
                  now + fake.token_lifetime)
    with fake.lock:
        fake.tokens[token.value] = token
    return Reply(201, {"token": token_json(fake, token)}, {"X-Subject-Token": token.value})


@route("GET", "/v3/auth/tokens")
def validate_token(fake: FakeOpenStack, req: Request) -> Reply:
    subject = fake.tokens.get(req.headers.get("x-subject-token", ""))
    if subject is None or subject.expires_at <= fake.clock.now():
        raise ApiError(404, f"Could not find token: {req.headers.get('x-subject-token')}.")
    return Reply(200, {"token": token_json(fake, subject)},
                 {"X-Subject-Token": subject.value})


def token_json(fake: FakeOpenStack, token: Token) -> dict[str, Any]:
    user = token.user
    body: dict[str, Any] = {
        "methods": list(token.methods),
        "user": {"id": user.id, "name": user.name, "password_expires_at": None,
                 "domain": {"id": user.domain.id, "name": user.domain.name}},
        "audit_ids": [token.audit_id],
        "issued_at": iso(token.issued_at, micro=True),
        "expires_at": iso(token.expires_at, micro=True),
    }
    if token.project is not None:
        p = token.project
        body["project"] = {"id": p.id, "name": p.name,
                           "domain": {"id": p.domain.id, "name": p.domain.name}}
        body["is_domain"] = False
        body["roles"] = [{"id": f"role-{name}", "name": name} for name in user.roles]
        body["catalog"] = catalog(fake)
    return body


SERVICES = (("identity", "keystone", "/identity/v3"), ("compute", "nova", "/compute/v2.1"),
            ("image", "glance", "/image"), ("network", "neutron", "/network"))


def catalog(fake: FakeOpenStack) -> list[dict[str, Any]]:
    """Every service on this server, public interface, in ``fake.region``."""
    entries = []
    for kind, name, path in SERVICES:
        entries.append({"id": f"svc-{name}", "type": kind, "name": name, "endpoints": [
            {"id": f"ep-{name}-public", "interface": "public", "region": fake.region,
             "region_id": fake.region, "url": fake.url + path}]})
    return entries
