"""The routes of authentication: how the dashboard signs in to a tenant, what the
caller's token allows there, and where the OpenID Connect provider sends the browser
back (``web/static/auth.js``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from zuulish.web import schemas as s
from zuulish.web.auth.info import tenant_info
from zuulish.web.auth.settings import AuthSettings
from zuulish.web.endpoints import API, Call
from zuulish.web.keys import ACCESS


class Realm(s.Model):
    authority: str = Field(description="the OpenID Connect issuer")
    client_id: str
    scope: str
    type: str
    driver: str


class AuthCapabilities(s.Model):
    realms: dict[str, Realm] = Field(description="realms the dashboard can sign in to")
    default_realm: str | None
    read_protected: bool = Field(description="whether reading the tenant needs a token "
                                             "(it has access-rules)")


class Capabilities(s.Model):
    auth: AuthCapabilities


class Info(s.Model):
    tenant: str
    rest_api_url: str
    capabilities: Capabilities


class TenantInfo(s.Model):
    info: Info


class ZuulAuthorizations(s.Model):
    admin: bool = Field(description="whether the caller may act as the tenant's admin")
    scope: list[str]


class Authorizations(s.Model):
    zuul: ZuulAuthorizations
    read: bool = Field(description="whether the caller may read the tenant")
    uid: str | None = Field(description="the caller's user, when the token is valid")
    actions: list[str] = Field(description="the admin actions the caller may take")


@API.get("/api/tenant/{tenant}/info", response=TenantInfo, tag="tenants", access="public",
         summary="How the dashboard signs in to the tenant (Zuul's capabilities.auth)")
async def api_tenant_info(call: Call) -> Any:
    assert call.layout is not None
    settings = getattr(call.app[ACCESS], "settings", None)
    if not isinstance(settings, AuthSettings):
        settings = AuthSettings()
    return tenant_info(settings, call.tenant, bool(call.layout.auth_rules.access),
                       call.web_url)


@API.get("/api/tenant/{tenant}/authorizations", response=Authorizations, tag="tenants",
         access="public", summary="What the caller's token allows on the tenant (Zuul's "
                                  "/api/user/authorizations)")
async def api_authorizations(call: Call) -> Any:
    access = call.app[ACCESS]
    header = call.request.headers.get("Authorization")
    if hasattr(access, "authorizations"):
        return await call.run(access.authorizations, header, call.tenant)
    admin = access.decide(header, call.tenant, "admin").allowed
    return {"zuul": {"admin": admin, "scope": [call.tenant]},
            "read": access.decide(header, call.tenant, "read").allowed, "uid": None,
            "actions": ["enqueue", "dequeue", "promote", "autohold"] if admin else []}


@API.page("/auth_callback", access="public")
async def auth_callback(call: Call) -> Any:
    """Where the OpenID Connect provider sends the browser back after sign-in."""
    return call.render("auth_callback.html")
