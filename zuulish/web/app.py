"""The aiohttp application: one route table, handlers that only translate HTTP."""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from aiohttp import web

import zuulish
from zuulish.config.layout import Layout
from zuulish.drivers.git.commit_msg import COMMIT_MSG_HOOK, HOOK_PATH
from zuulish.logs.stores import LogStores, make_log_stores
from zuulish.nodepool import holds
from zuulish.scheduler import management
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import EventRow, Store
from zuulish.store import notify as channels
from zuulish.web.console import console_stream
from zuulish.web.live import StatusCache, StatusHub
from zuulish.web.live import stream as status_stream
from zuulish.web.log_files import log_head, serve_log
from zuulish.web.openapi import openapi_document
from zuulish.web.status import (
    ChangeLinks,
    build_info,
    change_info,
    change_items,
    list_changes,
    recent_builds,
)

WEB_DIR = Path(zuulish.__file__).resolve().parent.parent / "web"
MAX_INLINE_LOG_LINES = 200
MAX_BUILDS = 500

STORE = web.AppKey("store", Store)
LAYOUTS = web.AppKey("layouts", TenantLayouts)
STATE_DIR = web.AppKey("state_dir", Path)
LOG_STORES = web.AppKey("log_stores", LogStores)
WEB_URL = web.AppKey("web_url", str)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
ADMIN_TOKEN = web.AppKey("admin_token", str)
CHANGE_LINKS = web.AppKey("change_links", dict)
STATUS_CACHE = web.AppKey("status_cache", StatusCache)
STATUS_HUB = web.AppKey("status_hub", StatusHub)

T = TypeVar("T")


async def _call(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking call (store reads, file reads) in the default executor."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(func, *args))


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _layouts(request: web.Request) -> dict[str, Layout]:
    """A snapshot of the tenants' layouts (reconfiguration swaps them from other threads)."""
    return dict(request.app[LAYOUTS].layouts)


def _tenant(request: web.Request, api: bool = True) -> tuple[str, Layout]:
    """The tenant named in the URL and its layout, or a 404 naming the known tenants."""
    name = request.match_info["tenant"]
    layouts = _layouts(request)
    if name not in layouts:
        message = f"no tenant named {name!r}; tenants: {', '.join(sorted(layouts)) or 'none'}"
        if api:
            raise web.HTTPNotFound(text=json.dumps({"error": message}),
                                   content_type="application/json")
        raise web.HTTPNotFound(text=message)
    return name, layouts[name]


def _render(request: web.Request, template: str, **context: Any) -> web.Response:
    env = request.app[TEMPLATES]
    context.setdefault("tenant", None)
    html = env.get_template(template).render(web_url=request.app[WEB_URL],
                                             tenants=sorted(_layouts(request)), **context)
    return web.Response(text=html, content_type="text/html")


def _when(epoch: float | None) -> str:
    """A timestamp as UTC wall-clock time for the pages."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(build: dict[str, Any]) -> str:
    """How long a build ran, e.g. ``1m 05s``; empty until it has finished."""
    if build.get("started_at") is None or build.get("finished_at") is None:
        return ""
    seconds = max(0, round(build["finished_at"] - build["started_at"]))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


# ------------------------------------------------------------------ API


async def api_tenants(request: web.Request) -> web.Response:
    layouts = request.app[LAYOUTS]
    return web.json_response([{"name": name, "pipelines": len(layout.pipelines),
                               "config_errors": sum(1 for e in layouts.config_errors(name)
                                                     if e["severity"] == "error")}
                              for name, layout in sorted(_layouts(request).items())])


async def api_config_errors(request: web.Request) -> web.Response:
    tenant, _ = _tenant(request)
    return web.json_response(request.app[LAYOUTS].config_errors(tenant))


async def api_status(request: web.Request) -> web.Response:
    tenant, layout = _tenant(request)
    snapshot = await request.app[STATUS_CACHE].get(tenant, layout)
    return web.Response(body=snapshot.body, content_type="application/json")


async def api_status_change(request: web.Request) -> web.Response:
    tenant, layout = _tenant(request)
    snapshot = await request.app[STATUS_CACHE].get(tenant, layout)
    try:
        return web.json_response(change_items(snapshot.data, request.match_info["change"]))
    except ValueError as exc:
        return _json_error(400, str(exc))


async def api_status_events(request: web.Request) -> web.StreamResponse:
    tenant, _ = _tenant(request)
    return await status_stream(request, request.app[STATUS_HUB], tenant)


async def api_builds(request: web.Request) -> web.Response:
    tenant, _ = _tenant(request)
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        return _json_error(400, "limit must be a whole number")
    if not 1 <= limit <= MAX_BUILDS:
        return _json_error(400, f"limit must be between 1 and {MAX_BUILDS}")
    data = await _call(recent_builds, request.app[STORE], tenant, limit,
                       request.app[WEB_URL], request.app[CHANGE_LINKS])
    return web.json_response(data)


async def api_build(request: web.Request) -> web.Response:
    uuid = request.match_info["uuid"]
    data = await _call(build_info, request.app[STORE], uuid, request.app[WEB_URL],
                       request.app[CHANGE_LINKS])
    if data is None:
        return _json_error(404, f"no build with id {uuid!r}")
    return web.json_response(data)


async def api_console_stream(request: web.Request) -> web.StreamResponse:
    return await console_stream(request, request.app[STORE], request.app[STATE_DIR],
                                request.app[LOG_STORES])


async def api_changes(request: web.Request) -> web.Response:
    data = await _call(list_changes, request.app[STORE], request.app[WEB_URL])
    return web.json_response(data)


def _admin(request: web.Request) -> web.Response | None:
    """None when the request carries the management API's token, else the refusal."""
    token = request.app.get(ADMIN_TOKEN)
    if not token:
        return _json_error(403, "the management API is off: set web.admin_token in the "
                                "server configuration")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return _json_error(401, "a valid 'Authorization: Bearer TOKEN' header is required")
    return None


async def _manage(request: web.Request, kind: str, **fields: Any) -> web.Response:
    refused = _admin(request)
    if refused is not None:
        return refused
    tenant, layout = _tenant(request)
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    pipeline = body.get("pipeline")
    if not isinstance(pipeline, str) or pipeline not in layout.pipelines:
        return _json_error(400, f"tenant {tenant} has no pipeline {pipeline!r}")
    try:
        if kind == "promote":
            changes = body.get("changes")
            if not isinstance(changes, list):
                return _json_error(400, "'changes' must be a list such as [\"12,1\", \"15\"]")
            data = management.request_data(kind, tenant, pipeline, changes=changes)
        else:
            data = management.request_data(kind, tenant, pipeline, change=body.get("change"),
                                           ref=body.get("ref"), newrev=body.get("newrev"),
                                           **fields)
    except management.ManagementError as exc:
        return _json_error(400, str(exc))
    event_id = await _call(management.record, request.app[STORE], kind, data, time.time,
                           "api")
    return web.json_response({"event": event_id,
                              "url": f"{request.app[WEB_URL]}/api/event/{event_id}"},
                             status=202)


async def api_enqueue(request: web.Request) -> web.Response:
    return await _manage(request, "enqueue", project=request.match_info["project"])


async def api_dequeue(request: web.Request) -> web.Response:
    return await _manage(request, "dequeue", project=request.match_info["project"])


async def api_promote(request: web.Request) -> web.Response:
    return await _manage(request, "promote")


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The request's JSON object, or the 400 that says it is not one."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _json_error(400, "the body must be a JSON object")
    if not isinstance(body, dict):
        return _json_error(400, "the body must be a JSON object")
    return body


async def api_autohold_create(request: web.Request) -> web.Response:
    """Store an autohold request for a project's job (Zuul's fields in the body)."""
    refused = _admin(request)
    if refused is not None:
        return refused
    tenant, layout = _tenant(request)
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        wanted = holds.hold_request(layout, tenant, request.match_info["project"], body)
    except holds.HoldError as exc:
        return _json_error(400, str(exc))
    data = await _call(_create_hold, request.app[STORE], wanted)
    return web.json_response(data, status=201)


def _create_hold(store: Store, wanted: holds.HoldRequest) -> dict[str, Any]:
    with store.session() as s:
        hold_id = holds.create_hold(s, wanted, time.time(), account="api").id
    with store.read() as s:
        return holds.describe(s, hold_id=hold_id)[0]


def _hold_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": "an autohold id is a whole number"}),
                                 content_type="application/json") from None


async def api_autohold_list(request: web.Request) -> web.Response:
    """The tenant's autohold requests, each with its held nodes and how to log in."""
    refused = _admin(request)
    if refused is not None:
        return refused
    tenant, _ = _tenant(request)
    return web.json_response(await _call(_describe, request.app[STORE], tenant, None))


def _describe(store: Store, tenant: str, hold_id: int | None) -> list[dict[str, Any]]:
    with store.read() as s:
        return holds.describe(s, tenant=tenant, hold_id=hold_id)


async def api_autohold_info(request: web.Request) -> web.Response:
    refused = _admin(request)
    if refused is not None:
        return refused
    tenant, _ = _tenant(request)
    hold_id = _hold_id(request)
    found = await _call(_describe, request.app[STORE], tenant, hold_id)
    if not found:
        return _json_error(404, f"no autohold request {hold_id} in tenant {tenant}")
    return web.json_response(found[0])


async def api_autohold_delete(request: web.Request) -> web.Response:
    """Delete a request; its held nodes go back to the launcher, which deletes them."""
    refused = _admin(request)
    if refused is not None:
        return refused
    tenant, _ = _tenant(request)
    hold_id = _hold_id(request)
    released = await _call(_delete_hold, request.app[STORE], tenant, hold_id)
    if released is None:
        return _json_error(404, f"no autohold request {hold_id} in tenant {tenant}")
    return web.json_response({"id": hold_id, "released_nodes": released})


def _delete_hold(store: Store, tenant: str, hold_id: int) -> list[int] | None:
    with store.session() as s:
        if not holds.describe(s, tenant=tenant, hold_id=hold_id):
            return None
        released = holds.release_hold(s, hold_id, time.time())
    store.notifier.notify(channels.LAUNCHER)
    return released


async def api_event(request: web.Request) -> web.Response:
    try:
        event_id = int(request.match_info["id"])
    except ValueError:
        return _json_error(400, "an event id is a whole number")
    data = await _call(event_info, request.app[STORE], event_id)
    if data is None:
        return _json_error(404, f"no event {event_id}")
    return web.json_response(data)


def event_info(store: Store, event_id: int) -> dict[str, Any] | None:
    with store.read() as s:
        row = s.get(EventRow, event_id)
        if row is None:
            return None
        return {"id": row.id, "type": row.type, "connection": row.connection,
                "processed": row.processed_at is not None, "outcome": row.outcome}


async def api_openapi(_request: web.Request) -> web.Response:
    return web.json_response(openapi_document(zuulish.__version__))


async def commit_msg_hook(_request: web.Request) -> web.Response:
    """The forge's ``commit-msg`` hook, which adds a ``Change-Id:`` footer."""
    return web.Response(text=COMMIT_MSG_HOOK, content_type="text/x-shellscript",
                        headers={"Content-Disposition": 'attachment; filename="commit-msg"'})


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def favicon(_request: web.Request) -> web.StreamResponse:
    """The icon, also where browsers look for it on pages that name none (plain-text logs)."""
    return web.FileResponse(WEB_DIR / "static" / "favicon.svg",
                            headers={"Content-Type": "image/svg+xml"})


# ---------------------------------------------------------------- pages


async def index(request: web.Request) -> web.Response:
    tenants = sorted(_layouts(request))
    if not tenants:
        return web.Response(text="zuulish: no tenants configured\n")
    raise web.HTTPFound(f"/t/{tenants[0]}/status")


async def status_page(request: web.Request) -> web.Response:
    tenant, layout = _tenant(request, api=False)
    snapshot = await request.app[STATUS_CACHE].get(tenant, layout)
    return _render(request, "status.html", tenant=tenant, status=snapshot.data,
                   q=request.query.get("q", "")[:200],
                   config_errors=request.app[LAYOUTS].config_errors(tenant))


async def builds_page(request: web.Request) -> web.Response:
    tenant, _ = _tenant(request, api=False)
    builds = await _call(recent_builds, request.app[STORE], tenant, 50,
                         request.app[WEB_URL], request.app[CHANGE_LINKS])
    return _render(request, "builds.html", tenant=tenant, builds=builds)


async def build_page(request: web.Request) -> web.Response:
    uuid = request.match_info["uuid"]
    build = await _call(build_info, request.app[STORE], uuid, request.app[WEB_URL],
                       request.app[CHANGE_LINKS])
    if build is None:
        raise web.HTTPNotFound(text=f"no build with id {uuid!r}")
    log, more, has_log = await _call(log_head, request.app[LOG_STORES], request.app[STORE],
                                     uuid, MAX_INLINE_LOG_LINES)
    return _render(request, "build.html", tenant=build["tenant"], build=build, log=log,
                   log_truncated=more, has_log=has_log,
                   stream_path=f"/api/build/{uuid}/console-stream",
                   build_path=f"/api/build/{uuid}")


async def changes_page(request: web.Request) -> web.Response:
    changes = await _call(list_changes, request.app[STORE], request.app[WEB_URL])
    return _render(request, "changes.html", changes=changes)


async def change_page(request: web.Request) -> web.Response:
    project, number = request.match_info["project"], request.match_info["number"]
    change = None
    if number.isdigit():
        change = await _call(change_info, request.app[STORE], project, int(number))
    if change is None:
        raise web.HTTPNotFound(text=f"no change {number} in {project}")
    return _render(request, "change.html", change=change)


async def log_file(request: web.Request) -> web.StreamResponse:
    return await serve_log(request, request.app[LOG_STORES], request.app[STORE])


@web.middleware
async def api_errors_as_json(request: web.Request,
                             handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                             ) -> web.StreamResponse:
    """Unknown API routes and wrong methods answer JSON, like the rest of the API."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if (request.path.startswith("/api/") and exc.status >= 400
                and exc.content_type != "application/json"):
            return _json_error(exc.status, f"{exc.reason}: {request.method} {request.path}")
        raise


def create_app(store: Store, layouts: TenantLayouts, state_dir: Path, web_url: str,
               templates_dir: Path | None = None,
               admin_token: str | None = None,
               extra_routes: Sequence[web.AbstractRouteDef] = (),
               change_links: ChangeLinks | None = None,
               log_stores: LogStores | None = None) -> web.Application:
    """The web application over ``store`` and the tenants' ``layouts``.

    ``web_url`` is the external base URL used in links; ``state_dir / "logs"`` holds build
    logs; ``admin_token`` turns on the management API (enqueue, dequeue, promote);
    ``extra_routes`` are the connections' own (a forge's webhook); ``change_links``
    give each connection's change pages (its source's ``change_url``), which changes
    link to (a connection not named there: the built-in forge's pages);
    ``log_stores`` where finished builds' logs are (default: ``state_dir / "logs"``).
    """
    app = web.Application(middlewares=[api_errors_as_json])
    app[STORE] = store
    app[LAYOUTS] = layouts
    app[STATE_DIR] = Path(state_dir)
    app[LOG_STORES] = log_stores or make_log_stores(None, Path(state_dir))
    app[WEB_URL] = web_url.rstrip("/")
    app[CHANGE_LINKS] = dict(change_links or {})
    app[STATUS_CACHE] = StatusCache(store, app[WEB_URL], app[CHANGE_LINKS])
    app[STATUS_HUB] = StatusHub(app[STATUS_CACHE], lambda: dict(layouts.layouts))

    async def close_hub(app: web.Application) -> None:
        await app[STATUS_HUB].close()

    async def end_streams(app: web.Application) -> None:
        app[STATUS_HUB].end_streams()

    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(close_hub)
    if admin_token:
        app[ADMIN_TOKEN] = admin_token
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir or WEB_DIR / "templates")),
        autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    app[TEMPLATES].filters.update(when=_when, duration=_duration)
    routes = [
        web.get("/", index),
        web.get("/health", health),
        web.get(HOOK_PATH, commit_msg_hook),
        web.get("/api/openapi.json", api_openapi),
        web.get("/api/tenants", api_tenants),
        web.get("/api/tenant/{tenant}/status", api_status),
        web.get("/api/tenant/{tenant}/status/events", api_status_events),
        web.get("/api/tenant/{tenant}/status/change/{change}", api_status_change),
        web.get("/api/tenant/{tenant}/builds", api_builds),
        web.get("/api/tenant/{tenant}/config-errors", api_config_errors),
        web.get("/api/build/{uuid}", api_build),
        web.get("/api/build/{uuid}/console-stream", api_console_stream),
        web.post(r"/api/tenant/{tenant}/project/{project:.+}/enqueue", api_enqueue),
        web.post(r"/api/tenant/{tenant}/project/{project:.+}/dequeue", api_dequeue),
        web.post("/api/tenant/{tenant}/promote", api_promote),
        web.post(r"/api/tenant/{tenant}/project/{project:.+}/autohold", api_autohold_create),
        web.get("/api/tenant/{tenant}/autohold", api_autohold_list),
        web.get("/api/tenant/{tenant}/autohold/{id}", api_autohold_info),
        web.delete("/api/tenant/{tenant}/autohold/{id}", api_autohold_delete),
        web.get("/api/event/{id}", api_event),
        web.get("/api/changes", api_changes),
        web.get("/t/{tenant}/status", status_page),
        web.get("/t/{tenant}/builds", builds_page),
        web.get("/build/{uuid}", build_page),
        web.get("/changes", changes_page),
        web.get(r"/c/{project:.+}/+/{number}", change_page),
        web.get(r"/logs/{uuid}/{path:.+}", log_file),
    ]
    if (WEB_DIR / "static").is_dir():
        routes.append(web.static("/static", WEB_DIR / "static"))
        routes.append(web.get("/favicon.ico", favicon))
    routes.extend(extra_routes)
    app.router.add_routes(routes)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving ``app`` on ``host:port``; the caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
