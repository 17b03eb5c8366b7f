"""The web's basic routes: tenants, status, builds, events, the forge's changes and pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

import zuulish
from zuulish.drivers.git.commit_msg import COMMIT_MSG_HOOK, HOOK_PATH
from zuulish.store import EventRow, Store
from zuulish.web import schemas as s
from zuulish.web.console import console_stream
from zuulish.web.endpoints import API, Call
from zuulish.web.history_routes import find_build
from zuulish.web.keys import LAYOUTS, LOG_STORES, STATE_DIR
from zuulish.web.log_files import serve_log
from zuulish.web.status import list_changes

# ------------------------------------------------------------------ API


@API.get("/api/tenants", response=list[s.Tenant], tag="tenants", access="public",
         query=s.Paged,
         summary="Tenants the caller may read, with how many pipelines and configuration "
                 "errors each has")
async def api_tenants(call: Call) -> Any:
    layouts, known = call.app[LAYOUTS], call.layouts()
    return call.paged([{"name": name, "pipelines": len(known[name].pipelines),
                        "config_errors": sum(1 for e in layouts.config_errors(name)
                                             if e["severity"] == "error")}
                       for name in call.readable_tenants() if name in known])


@API.get("/api/tenant/{tenant}/config-errors", response=list[s.ConfigError], tag="tenants",
         access="read", query=s.ConfigErrorsQuery,
         summary="Configuration errors of a tenant: of its running layout, of configuration "
                 "refused because of them (the last good layout keeps running), and of the "
                 "tenant file; then the running layout's warnings (settings read and "
                 "ignored); empty when there are none")
async def api_config_errors(call: Call) -> Any:
    errors = call.app[LAYOUTS].config_errors(call.tenant)
    if call.query.severity is not None:
        errors = [e for e in errors if e["severity"] == call.query.severity]
    return call.paged(errors)


def console_stream_name(match: Mapping[str, str]) -> str:
    """The console stream's name in its tickets."""
    return f"console:{match['uuid']}"


@API.get("/api/build/{uuid}/console-stream", tag="builds", access="read",
         query=s.ConsoleQuery, status=101, stream=console_stream_name,
         errors={404: "No such build", 429: "The caller holds as many streams as it may"},
         summary="The build's job-output.txt as it grows, over a websocket (text messages "
                 "of whole lines; closed with code 1000 and the result once the build is "
                 "over, with code 4001 when the caller's token expires, with code 4003 "
                 "when the tenant's access rules change: open it again)")
async def api_console_stream(call: Call) -> web.StreamResponse:
    await find_build(call, call.match["uuid"])
    with call.stream_slot() as reopen:
        return await console_stream(call.request, call.store, call.app[STATE_DIR],
                                    call.app[LOG_STORES], until=call.expires,
                                    reopen=reopen)


@API.get("/api/changes", response=list[s.ListedChange], tag="forge", access="public",
         query=s.ChangesQuery, summary="Changes of the built-in forge, newest first")
async def api_changes(call: Call) -> Any:
    changes = await call.run(list_changes, call.store, call.web_url)
    query = call.query
    return call.paged([c for c in changes
                       if query.project in (None, c["project"])
                       and query.status in (None, c["status"])])


@API.get("/api/event/{id}", response=s.StoredEvent, tag="management", access="public",
         params=s.EventPath, errors={404: "No such event"},
         summary="A stored event and the scheduler's outcome")
async def api_event(call: Call) -> Any:
    data = await call.run(event_info, call.store, call.params.id)
    if data is None:
        raise call.not_found(f"no event {call.params.id}")
    tenant = data.pop("tenant")
    if tenant is not None:  # a management event: its outcome is about that tenant
        await call.authorize(tenant, "read")
    return data


def event_info(store: Store, event_id: int) -> dict[str, Any] | None:
    """The event's outcome, and the tenant it names (management events name one)."""
    with store.read() as session:
        row = session.get(EventRow, event_id)
        if row is None:
            return None
        tenant = row.data.get("tenant") if isinstance(row.data, dict) else None
        return {"id": row.id, "type": row.type, "connection": row.connection,
                "processed": row.processed_at is not None, "outcome": row.outcome,
                "tenant": tenant if isinstance(tenant, str) else None}


@API.get("/api/openapi.json", response=dict[str, Any], tag="meta", access="public",
         summary="This document")
async def api_openapi(_call: Call) -> Any:
    return API.openapi(zuulish.__version__)


@API.get("/health", response=s.Health, tag="meta", access="public",
         summary="Liveness probe")
async def health(_call: Call) -> Any:
    return {"status": "ok"}


@API.get(HOOK_PATH, access="public", document=False)
async def commit_msg_hook(_call: Call) -> web.StreamResponse:
    """The forge's ``commit-msg`` hook, which adds a ``Change-Id:`` footer."""
    return web.Response(text=COMMIT_MSG_HOOK, content_type="text/x-shellscript",
                        headers={"Content-Disposition": 'attachment; filename="commit-msg"'})


# ---------------------------------------------------------------- pages


@API.page("/", access="public")
async def index(call: Call) -> web.StreamResponse:
    tenants = call.readable_tenants()
    if not tenants:
        return web.Response(text="zuulish: no tenants configured\n")
    raise web.HTTPFound(f"/t/{tenants[0]}/status")


@API.page("/changes", access="public")
async def changes_page(call: Call) -> web.StreamResponse:
    changes = await call.run(list_changes, call.store, call.web_url)
    return call.render("changes.html", changes=changes)


@API.page(r"/logs/{uuid}/{path:.+}", access="public")
async def log_file(call: Call) -> web.StreamResponse:
    await find_build(call, call.match["uuid"])
    return await serve_log(call.request, call.app[LOG_STORES], call.store)
