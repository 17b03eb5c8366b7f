"""What the dashboard needs to know to sign a user in: Zuul's
``/api/tenant/{tenant}/info`` with its ``capabilities.auth``."""

from __future__ import annotations

from typing import Any

from zuulish.web.auth.settings import AuthSettings


def tenant_info(settings: AuthSettings, tenant: str, read_protected: bool,
                web_url: str) -> dict[str, Any]:
    """The tenant's info: each realm the dashboard can sign in to (the OpenID
    Connect authenticators: their issuer, client_id and scope), the default realm,
    and whether reading the tenant needs a token."""
    realms = {}
    for auth in settings.authenticators.values():
        if auth.driver != "OpenIDConnect" or auth.realm in realms:
            continue
        realms[auth.realm] = {"authority": auth.issuer_id, "client_id": auth.client_id,
                              "scope": auth.scope, "type": "JWT", "driver": auth.driver}
    default = settings.default()
    default_realm = default.realm if default is not None and default.realm in realms \
        else next(iter(realms), None)
    return {"info": {"tenant": tenant, "rest_api_url": web_url,
                     "capabilities": {"auth": {"realms": realms,
                                               "default_realm": default_realm,
                                               "read_protected": read_protected}}}}
