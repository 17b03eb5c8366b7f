"""The status's routes: the tenant's status, one change's, the live event stream, and
the status page (all answered from the shared :class:`~zuulish.web.live.StatusCache`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import Field

from zuulish.web import schemas as s
from zuulish.web import status_models as m
from zuulish.web.endpoints import API, Call
from zuulish.web.keys import LAYOUTS
from zuulish.web.live import STATUS_CACHE, STATUS_HUB, stream
from zuulish.web.status import CHANGE_ID, change_items

#: the longest filter the page takes from its URL
MAX_FILTER = 200


class ChangePath(s.Query):
    change: str = Field(pattern=f"^{CHANGE_ID.pattern}$", description=(
        "a change number, or NUMBER,PATCHSET such as 12,3"))


@API.get("/api/tenant/{tenant}/status", response=m.Status, tag="status", access="read",
         summary="Pipelines, queues, items and jobs of a tenant, with the jobs' estimates, "
                 "each item's place in the chain and speculative state")
async def api_status(call: Call) -> web.StreamResponse:
    snapshot = await call.app[STATUS_CACHE].get(call.tenant, call.layout)
    return await snapshot.response(call.request)


@API.get("/api/tenant/{tenant}/status/change/{change}", response=list[m.ChangeStatusItem],
         tag="status", access="read", params=ChangePath,
         summary="The items of one change (12) or patch set (12,3) in the tenant's "
                 "pipelines; empty when none is queued")
async def api_status_change(call: Call) -> Any:
    snapshot = await call.app[STATUS_CACHE].get(call.tenant, call.layout)
    return change_items(snapshot.data, call.params.change)


def status_stream_name(_match: Mapping[str, str]) -> str:
    """The status's event stream's name in its tickets (the tenant is their own)."""
    return "status"


class EventsQuery(s.StreamQuery):
    deltas: bool = Field(False, description=(
        "after the first status (numbered by its 'id'), send each change as a 'delta' "
        "event: the status with each item unchanged since the last event replaced by its "
        "id, and 'base', the number of the event it follows"))


@API.get("/api/tenant/{tenant}/status/events", response=str, tag="status", access="read",
         content_type="text/event-stream", query=EventsQuery, stream=status_stream_name,
         errors={429: "The caller holds as many streams as it may"},
         summary="Server-sent events: 'status' with the status JSON (as GET .../status) "
                 "at once and after each change (with deltas=true, 'delta' with what "
                 "changed), 'gone' when the tenant is removed, 'expired' (the last) when "
                 "the caller's token expires, 'reopen' (the last) when the tenant's "
                 "access rules change: open the stream again, under the new rules")
async def api_status_events(call: Call) -> web.StreamResponse:
    with call.stream_slot() as reopen:
        return await stream(call.request, call.app[STATUS_HUB], call.tenant,
                            until=call.expires, deltas=call.query.deltas, reopen=reopen)


@API.page("/t/{tenant}/status")
async def status_page(call: Call) -> web.StreamResponse:
    snapshot = await call.app[STATUS_CACHE].get(call.tenant, call.layout)
    return call.render("status.html", status=snapshot.data,
                       q=call.request.query.get("q", "")[:MAX_FILTER],
                       config_errors=call.app[LAYOUTS].config_errors(call.tenant))
