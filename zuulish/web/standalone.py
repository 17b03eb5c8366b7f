"""``zuulish web``: the web server as a component of its own.

Any number of webs may run, on any hosts, against the deployment's database. Each
reads the tenants' layouts itself and reads them again whenever the active
scheduler's layouts change (``cluster/layout_sync.py``); it registers as a ``web``
component, serves the connections' webhooks (storing each delivery before its 2xx),
and, on the host that holds the built-in forge's repositories, takes the pushes its
hooks hand over (the intake server).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

from zuulish.cluster.layout_sync import LayoutFollower
from zuulish.cluster.registry import STOPPING, ComponentRegistry
from zuulish.cluster.schema import check_schema
from zuulish.errors import ConfigError
from zuulish.server_config import ServerConfig

log = logging.getLogger(__name__)

FOLLOW_SECONDS = 2.0


def run_web(config: ServerConfig) -> None:
    """Serve until SIGTERM or SIGINT; start-up problems raise (ConfigError, StoreUnavailable)."""
    from zuulish.runner import bind_problem

    problem = bind_problem(config.listen_host, config.listen_port)
    if problem is not None:
        raise ConfigError(f"web.listen: cannot serve on {config.listen_host}:"
                          f"{config.listen_port}: {problem}", file=str(config.path))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    asyncio.run(_serve(config, stop))


async def _serve(config: ServerConfig, stop: threading.Event) -> None:
    from zuulish.drivers.git.intake import serve_forges
    from zuulish.drivers.registry import make_connections, trigger_parsers
    from zuulish.logs.stores import make_log_stores
    from zuulish.metrics import Scrape, layout_pipelines
    from zuulish.scheduler.layouts import TenantLayouts
    from zuulish.store import Store
    from zuulish.web.app import create_app, serve
    from zuulish.web.status import change_links

    store = Store(config.database)
    check_schema(store, "web", str(config.path))
    connections = make_connections(config, store)
    layouts = TenantLayouts(config.tenant_file, connections.drivers, connections.sources,
                            trigger_parsers(), nodes=config.node_context())
    follower = LayoutFollower(store, layouts, every=FOLLOW_SECONDS)
    follower.prime()
    layouts.load_all()
    registry = ComponentRegistry(store, "web", address=config.web_url,
                                 interval=config.cluster.heartbeat)
    registry.start()
    intake = serve_forges(config.path, connections.forges) if connections.forges else None
    if intake is not None:
        intake.start()
    from zuulish.drivers.github.webhook import Webhook

    owners = [s for s in connections.services if isinstance(s, Webhook)]
    for service in owners:
        service.start()
    app = create_app(store, layouts, config.state_dir, config.web_url,
                     admin_token=config.admin_token, auth_config=config.auth,
                     max_streams_per_client=config.max_streams_per_client,
                     trusted_proxies=config.trusted_proxies,
                     extra_routes=connections.routes,
                     change_links=change_links(connections.sources),
                     log_stores=make_log_stores(config.logs, config.state_dir),
                     metrics_scrape=Scrape(store, dead_after=config.cluster.dead_after,
                                           pipelines=layout_pipelines(layouts)),
                     pool_labels={p.name: p.labels for p in config.providers})
    runner = await serve(app, config.listen_host, config.listen_port)
    print(f"zuulish web is running as {registry.id}: {config.web_url}/ (SIGTERM to stop)",
          flush=True)
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            await asyncio.sleep(0.5)
            # reading the layouts again is slow I/O: never on the event loop
            await loop.run_in_executor(None, follower.run_once)
    finally:
        registry.set_state(STOPPING)
        await runner.cleanup()
        for service in owners:
            service.stop()  # stores what was accepted
        if intake is not None:
            intake.stop()
        registry.stop()
        store.dispose()
