"""The aiohttp application: the routes declared in ``zuulish/web/endpoints.py``'s registry
(by the modules ``zuulish/web/routes.py`` imports), and how it is served."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

import zuulish
from zuulish.logs.stores import LogStores, make_log_stores
from zuulish.metrics import Scrape
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.store import Store
from zuulish.store.tickets import spend_ticket
from zuulish.web import live
from zuulish.web import routes as _routes  # noqa: F401  (declares the routes)
from zuulish.web.access import Access
from zuulish.web.auth.authorizer import Authorizer, layout_rules
from zuulish.web.auth.settings import AuthSettings
from zuulish.web.auth.tickets import StreamTickets, ticket_key
from zuulish.web.client_address import Network
from zuulish.web.endpoints import API, json_error
from zuulish.web.keys import (
    ACCESS,
    CHANGE_LINKS,
    LAYOUTS,
    LOG_STORES,
    METRICS,
    POOL_LABELS,
    RULES_WATCH,
    STATE_DIR,
    STORE,
    STREAM_LIMITS,
    TEMPLATES,
    TICKETS,
    TRUSTED_PROXIES,
    WEB_URL,
)
from zuulish.web.status import ChangeLinks
from zuulish.web.streams import (
    ACCESS_CHECK_SECONDS,
    DEFAULT_MAX_PER_CLIENT,
    RulesWatch,
    StreamLimits,
)

WEB_DIR = Path(zuulish.__file__).resolve().parent.parent / "web"
__all__ = ["ACCESS", "CHANGE_LINKS", "LAYOUTS", "LOG_STORES", "STATE_DIR", "STORE",
           "TEMPLATES", "WEB_URL", "create_app", "serve"]


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


async def favicon(_request: web.Request) -> web.StreamResponse:
    """The icon, also where browsers look for it on pages that name none (plain-text logs)."""
    return web.FileResponse(WEB_DIR / "static" / "favicon.svg",
                            headers={"Content-Type": "image/svg+xml"})


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
            # a 405 names the methods there are (RFC 9110)
            allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            raise json_error(exc.status, f"{exc.reason}: {request.method} {request.path}",
                             allow) from None
        raise


def _error_count(layouts: TenantLayouts, tenant: str) -> int:
    """The tenant's configuration errors (warnings aside)."""
    return sum(1 for e in layouts.config_errors(tenant) if e["severity"] == "error")


def create_app(store: Store, layouts: TenantLayouts, state_dir: Path, web_url: str,
               templates_dir: Path | None = None,
               admin_token: str | None = None,
               access: Access | None = None,
               extra_routes: Sequence[web.AbstractRouteDef] = (),
               change_links: ChangeLinks | None = None,
               log_stores: LogStores | None = None,
               auth_config: AuthSettings | None = None,
               metrics_scrape: Scrape | None = None,
               pool_labels: Mapping[str, Sequence[str]] | None = None,
               max_streams_per_client: int = DEFAULT_MAX_PER_CLIENT,
               ticket_key_source: Callable[[], bytes] | None = None,
               access_check_seconds: float = ACCESS_CHECK_SECONDS,
               trusted_proxies: Sequence[Network] = ()) -> web.Application:
    """The web application over ``store`` and the tenants' ``layouts``.

    ``web_url`` is the external base URL used in links; ``state_dir / "logs"`` holds build
    logs; ``access`` decides who may read and act (default: reads open, and
    ``admin_token``, when given, the bearer token of the management API);
    ``extra_routes`` are the connections' own (a forge's webhook); ``change_links``
    give each connection's change pages (its source's ``change_url``), which changes
    link to (a connection not named there: the built-in forge's pages);
    ``log_stores`` where finished builds' logs are (default: ``state_dir / "logs"``);
    ``auth_config`` the authenticators of ``zuulish.yaml`` (default: none), which with
    the tenants' rules decide who may read and administer each tenant
    (:class:`~zuulish.web.auth.authorizer.Authorizer`, the default ``access``);
    ``metrics_scrape`` what ``/metrics`` serves (default: the store's gauges alone);
    ``pool_labels`` the labels each provider of ``zuulish.yaml`` offers (for the labels
    page; the tenants' own providers are in their layouts);
    ``max_streams_per_client`` the live streams one client may hold open
    (``web.max_streams_per_client``); ``ticket_key_source`` gives the key stream tickets
    are signed with (default: derived from ``state_dir``'s ``secrets.key``, on first use);
    ``access_check_seconds`` how often open streams are held against their tenants'
    rules (a stream whose tenant's rules changed ends: see ``streams.RulesWatch``);
    ``trusted_proxies`` the reverse proxies whose ``X-Forwarded-For`` names the client
    (``web.trusted_proxies``; see ``client_address``).
    """
    app = web.Application(middlewares=[api_errors_as_json])
    app[STORE] = store
    app[LAYOUTS] = layouts
    app[STATE_DIR] = Path(state_dir)
    app[LOG_STORES] = log_stores or make_log_stores(None, Path(state_dir))
    app[WEB_URL] = web_url.rstrip("/")
    app[CHANGE_LINKS] = dict(change_links or {})
    app[ACCESS] = access if access is not None else Authorizer(
        auth_config or AuthSettings(), layout_rules(layouts), admin_token)
    app[METRICS] = metrics_scrape or Scrape(store)
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir or WEB_DIR / "templates")),
        autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    app[TEMPLATES].filters.update(when=_when, duration=_duration)
    # the shared layout's nav shows each tenant's count of configuration errors
    app[TEMPLATES].globals["config_error_count"] = functools.partial(_error_count, layouts)
    app[POOL_LABELS] = {name: list(labels) for name, labels in (pool_labels or {}).items()}
    app[TICKETS] = StreamTickets(
        ticket_key_source or functools.partial(ticket_key, Path(state_dir)),
        shared=functools.partial(spend_ticket, store))  # used once by any web
    app[STREAM_LIMITS] = StreamLimits(max_streams_per_client)
    app[TRUSTED_PROXIES] = tuple(trusted_proxies)
    app[RULES_WATCH] = RulesWatch(layout_rules(layouts), access_check_seconds)

    async def stop_rules_watch(app: web.Application) -> None:
        app[RULES_WATCH].stop()

    app.on_cleanup.append(stop_rules_watch)
    live.install(app)  # the shared status and its event stream
    routes = API.routes()
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
