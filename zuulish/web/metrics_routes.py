"""``GET /metrics``: Prometheus's text exposition (``docs/metrics.md``)."""

from __future__ import annotations

from aiohttp import web

from zuulish.web.endpoints import API, Call
from zuulish.web.keys import METRICS


@API.get("/metrics", access="public", document=False)
async def metrics(call: Call) -> web.StreamResponse:
    """The store's gauges and this process's counters. They name every tenant's
    pipelines, projects and jobs: whoever may read every tenant may read them."""
    for tenant in sorted(call.layouts()):
        await call.authorize(tenant, "read")
    body, content_type = await call.run(call.app[METRICS].render)
    return web.Response(body=body, headers={"Content-Type": content_type})
