"""The routes that hand out stream tickets (``zuulish/web/auth/tickets.py``): a caller who
may read a stream gets a short-lived ticket that opens it, for the browsers, which can
put no bearer token on a websocket or an EventSource."""

from __future__ import annotations

from typing import Any

from zuulish.web import schemas as s
from zuulish.web.core_routes import console_stream_name
from zuulish.web.endpoints import API, Call
from zuulish.web.history_routes import find_build
from zuulish.web.keys import TICKETS
from zuulish.web.status_routes import status_stream_name


async def _ticket(call: Call, tenant: str, stream: str) -> dict[str, Any]:
    """A ticket of the caller (already allowed to read ``tenant``) for ``stream``."""
    tickets = call.app[TICKETS]
    ticket = await call.run(tickets.mint, tenant, stream, call.identity, call.expires)
    call.headers["Cache-Control"] = "no-store"
    return {"ticket": ticket, "expires_in": tickets.ttl}


@API.post("/api/tenant/{tenant}/status/events/ticket", response=s.StreamTicket,
          tag="status", access="read",
          summary="A ticket that opens the tenant's status events once, within a minute, "
                  "as ?ticket=... (for browsers: an EventSource cannot send a token)")
async def api_status_events_ticket(call: Call) -> Any:
    return await _ticket(call, call.tenant, status_stream_name(call.match))


@API.post("/api/build/{uuid}/console-stream/ticket", response=s.StreamTicket,
          tag="builds", access="read", errors={404: "No such build"},
          summary="A ticket that opens the build's console stream once, within a minute, "
                  "as ?ticket=... (for browsers: a websocket cannot send a token)")
async def api_console_stream_ticket(call: Call) -> Any:
    build = await find_build(call, call.match["uuid"])
    return await _ticket(call, build["tenant"], console_stream_name(call.match))
