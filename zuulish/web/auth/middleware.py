"""The aiohttp glue: every route has an access level, and a middleware asks the
:class:`~zuulish.web.auth.authorizer.Authorizer` before its handler runs.

``read`` routes of a tenant (``/api/tenant/{tenant}/...``, ``/t/{tenant}/...``)
are checked against that tenant; routes of a build (``{uuid}``: its API, console
stream, logs and page) against the build's tenant; ``admin`` routes need an
admin of the tenant; ``public`` routes (and any route not listed) are not checked.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from aiohttp import web

from zuulish.web.auth.authorizer import Authorizer, Decision

Access = Literal["read", "admin", "public"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

AUTHORIZER = web.AppKey("authorizer", Authorizer)
ROUTE_ACCESS = web.AppKey("route_access", dict)
# the tenant a build belongs to (None: no such build), from its uuid
BUILD_TENANT = web.AppKey("build_tenant", object)
# the page shown instead of a refused page (the request, the decision)
REFUSAL_PAGE = web.AppKey("refusal_page", object)
# the caller's uid, on requests a valid token allowed
IDENTITY = web.RequestKey("identity", str)


async def decide(request: web.Request, tenant: str | None, action: str) -> Decision:
    """The authorizer's decision for this request (checking a token may fetch an
    issuer's keys: off the event loop)."""
    authorizer = request.app[AUTHORIZER]
    header = request.headers.get("Authorization")
    if header is None:
        return authorizer.decide(None, tenant, action)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        None, functools.partial(authorizer.decide, header, tenant, action))


async def readable(request: web.Request, tenants: list[str]) -> list[str]:
    """Those of ``tenants`` this request may read."""
    authorizer = request.app[AUTHORIZER]
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        None, authorizer.readable, request.headers.get("Authorization"), tenants)


async def _tenant_of(request: web.Request) -> str | None:
    info = request.match_info
    if "tenant" in info:
        return info["tenant"]
    if "uuid" in info:
        lookup: Callable[[str], str | None] = request.app[BUILD_TENANT]  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lookup, info["uuid"])
    return None


def refusal(request: web.Request, decision: Decision) -> web.StreamResponse:
    """The response to a refused request: JSON under /api/, else the refusal page."""
    headers = decision.headers()
    if request.path.startswith("/api/"):
        return web.json_response({"error": decision.message}, status=decision.status,
                                 headers=headers)
    page: Callable[[web.Request, Decision], web.Response] = \
        request.app[REFUSAL_PAGE]  # type: ignore[assignment]
    response = page(request, decision)
    response.headers.update(headers)
    return response


@web.middleware
async def authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse the request when its route's access level is not met."""
    access: Mapping[Any, Access] = request.app[ROUTE_ACCESS]
    level = access.get(request.match_info.handler, "public")
    if level == "public":
        return await handler(request)
    tenant = await _tenant_of(request)
    decision = await decide(request, tenant, level)
    if not decision.allowed:
        return refusal(request, decision)
    if decision.identity is not None:
        request[IDENTITY] = decision.identity
    return await handler(request)
