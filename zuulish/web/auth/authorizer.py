"""The decision point: may this request read a tenant, or act on it as an admin?

The web layer asks :meth:`Authorizer.decide` for every request. Reads of a
tenant without ``access-rules`` are open to anyone. A tenant's ``access-rules``
make its reads need a valid token whose claims match one of them (or one of its
``admin-rules``: an admin may read what they administer). Admin actions
(enqueue, dequeue, promote, autohold) need a valid token whose claims match one
of the tenant's ``admin-rules``, or — where the authenticator has
``allow_authz_override`` — whose ``zuul.admin`` claim lists the tenant (the
claim then decides alone). ``web.admin_token``, where set, is a static token
that may do everything (the embedded mode's opt-in).

The answer to the client never says why; the reason is logged to
``zuulish.web.auth``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt

from zuulish.config.auth_rules import TenantAuthRules
from zuulish.web.access import Action, Decision
from zuulish.web.auth.keys import DEFAULT_MIN_REFETCH, IssuerKeys
from zuulish.web.auth.settings import Authenticator, AuthSettings
from zuulish.web.auth.tokens import TokenRejected, validate

if TYPE_CHECKING:
    from zuulish.scheduler.layouts import TenantLayouts

log = logging.getLogger("zuulish.web.auth")

ADMIN_TOKEN_USER = "admin-token"
UNAUTHENTICATED = "authentication required"
FORBIDDEN = "forbidden"
ADMIN_OFF = ("the management API is off: configure an authenticator under 'auth:' and the "
             "tenants' admin-rules, or set web.admin_token, in the server configuration")


@dataclass(frozen=True)
class Identity:
    """Who a valid token says the caller is."""

    uid: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    authenticator: Authenticator | None = None  # None: the static admin token

    @property
    def superuser(self) -> bool:
        return self.authenticator is None

    @property
    def expires(self) -> float | None:
        """Epoch seconds after which the token is no longer accepted (its ``exp``, or
        ``iat`` + ``max_validity_time`` when sooner, each with the ``skew`` allowed);
        None for the static admin token."""
        auth = self.authenticator
        if auth is None or not isinstance(self.claims.get("exp"), int | float):
            return None
        until = float(self.claims["exp"])
        issued = self.claims.get("iat")
        if auth.max_validity_time is not None and isinstance(issued, int | float):
            until = min(until, float(issued) + auth.max_validity_time)
        return until + auth.skew


class Authorizer:
    """Decides requests from the server's authenticators and the tenants' rules.

    ``rules`` gives a tenant's rules (None for a tenant that does not exist);
    ``admin_token`` is ``web.admin_token``.
    """

    def __init__(self, settings: AuthSettings,
                 rules: Callable[[str], TenantAuthRules | None],
                 admin_token: str | None = None, *,
                 min_refetch: float = DEFAULT_MIN_REFETCH):
        self.settings = settings
        self.rules = rules
        self.admin_token = admin_token
        self.realm = settings.realm()
        self.keys: dict[str, IssuerKeys] = {
            a.name: IssuerKeys(a.issuer_id, a.keys_url, min_refetch=min_refetch)
            for a in settings.authenticators.values() if a.driver == "OpenIDConnect"}

    # ------------------------------------------------------------ authentication
    def authenticate(self, header: str | None) -> Identity | Decision:
        """The caller's identity, or the 401 that refuses the token."""
        if not header:
            return self._refuse(401, "no Authorization header")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return self._refuse(401, "the Authorization header is not 'Bearer TOKEN'")
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Identity(ADMIN_TOKEN_USER)
        if not self.settings.authenticators:
            return self._refuse(401, "not the admin token, and no authenticator is configured")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.DecodeError as exc:
            return self._refuse(401, f"malformed token: {exc}")
        issuer = unverified.get("iss")
        candidates = [a for a in self.settings.authenticators.values()
                      if isinstance(issuer, str) and a.issuer_id == issuer]
        if not candidates:
            return self._refuse(401, f"no authenticator accepts tokens of issuer {issuer!r}")
        reasons = []
        for auth in candidates:
            try:
                claims = validate(auth, token, self.keys.get(auth.name))
            except TokenRejected as exc:
                reasons.append(f"{auth.name}: {exc}")
                continue
            return Identity(str(claims[auth.uid_claim]), claims, auth)
        return self._refuse(401, "; ".join(reasons))

    # ------------------------------------------------------------ authorization
    def is_admin(self, identity: Identity, tenant: str) -> bool:
        """Whether the caller may act on ``tenant`` (enqueue, dequeue, promote, autohold)."""
        if identity.superuser:
            return True
        override = self._override(identity)
        if override is not None:
            return tenant in override
        rules = self.rules(tenant)
        return rules is not None and any(r.matches(identity.claims, tenant)
                                         for r in rules.admin)

    def can_read(self, identity: Identity | None, tenant: str) -> bool:
        """Whether the caller may read ``tenant`` (None: no valid token)."""
        rules = self.rules(tenant)
        if rules is None or not rules.access:
            return True
        if identity is None:
            return False
        if self.is_admin(identity, tenant):
            return True
        return any(r.matches(identity.claims, tenant) for r in rules.access)

    def _override(self, identity: Identity) -> list[str] | None:
        """The tenants of the token's ``zuul.admin`` claim where its authenticator
        lets the claim decide (None: the rules decide)."""
        auth = identity.authenticator
        zuul = identity.claims.get("zuul")
        if auth is None or not isinstance(zuul, Mapping) or "admin" not in zuul:
            return None
        if not auth.allow_authz_override:
            log.warning("%s: the zuul.admin claim is ignored: authenticator %s does not "
                        "allow_authz_override", identity.uid, auth.name)
            return None
        tenants = zuul["admin"]
        if isinstance(tenants, str):
            tenants = [tenants]
        return [t for t in tenants if isinstance(t, str)] if isinstance(tenants, list) else []

    # ------------------------------------------------------------ the decision
    def decide(self, authorization: str | None, tenant: str | None,
               action: Action) -> Decision:
        """Whether a request with this ``Authorization`` header may ``action`` the
        ``tenant`` (None: no tenant, e.g. the list of tenants). The web layer logs a
        refusal's ``reason``; the client gets only its ``message``."""
        if action == "read":
            rules = self.rules(tenant) if tenant is not None else None
            if rules is None or not rules.access:
                return Decision(True, reason="open")
            found = self.authenticate(authorization)
            if isinstance(found, Decision):
                return found
            if self.can_read(found, tenant):  # type: ignore[arg-type]
                return Decision(True, reason="access-rules", identity=found.uid,
                                expires=found.expires)
            return self._refuse(403, f"{found.uid}: the token's claims match none of the "
                                     "tenant's access-rules", found.uid)
        if action != "admin":
            raise ValueError(f"unknown action {action!r}")
        if not self.settings.authenticators and not self.admin_token:
            return Decision(False, 403, ADMIN_OFF, "no authenticator and no admin token")
        found = self.authenticate(authorization)
        if isinstance(found, Decision):
            return found
        if found.superuser or (tenant is not None and self.is_admin(found, tenant)):
            log.info("%s may act as admin on tenant %s", found.uid, tenant or "-")
            return Decision(True, reason="admin", identity=found.uid, expires=found.expires)
        why = ("the token's zuul.admin claim does not list the tenant"
               if self._override(found) is not None
               else "the token's claims match none of the tenant's admin-rules")
        return self._refuse(403, f"{found.uid}: {why}", found.uid)

    def readable(self, authorization_header: str | None, tenants: Iterable[str]) -> list[str]:
        """Those of ``tenants`` the caller may read (the token is checked once, and
        only when some tenant has access-rules)."""
        identity: Identity | None = None
        checked = False
        out = []
        for tenant in tenants:
            rules = self.rules(tenant)
            if rules is not None and rules.access and not checked:
                checked = True
                found = self.authenticate(authorization_header)
                identity = found if isinstance(found, Identity) else None
            if self.can_read(identity, tenant):
                out.append(tenant)
        return out

    def authorizations(self, authorization_header: str | None,
                       tenant: str) -> dict[str, Any]:
        """What the caller may do on ``tenant``, as Zuul's ``/api/user/authorizations``
        (``zuul.admin``, ``zuul.scope``) plus ``read`` and the caller's ``uid``."""
        found = self.authenticate(authorization_header) if authorization_header else None
        identity = found if isinstance(found, Identity) else None
        admin = identity is not None and self.is_admin(identity, tenant)
        return {"zuul": {"admin": admin, "scope": [tenant]},
                "read": self.can_read(identity, tenant),
                "uid": identity.uid if identity else None,
                "actions": ["enqueue", "dequeue", "promote", "autohold"] if admin else []}

    # ------------------------------------------------------------ helpers
    def _refuse(self, status: int, reason: str, uid: str | None = None) -> Decision:
        if status == 401:
            return Decision(False, 401, UNAUTHENTICATED, reason, uid,
                            {"WWW-Authenticate": f'Bearer realm="{self.realm}"'})
        return Decision(False, status, FORBIDDEN, reason, uid)


def layout_rules(layouts: TenantLayouts) -> Callable[[str], TenantAuthRules | None]:
    """A tenant's rules from its running layout (None: no such tenant)."""
    def rules(tenant: str) -> TenantAuthRules | None:
        layout = layouts.layouts.get(tenant)
        return layout.auth_rules if layout is not None else None
    return rules
