"""Run zuulish: all components plus the web server, until told to stop.

``zuulish run`` serves the web from a child process (:mod:`zuulish.web.process`);
:class:`WebThread` serves it from a thread of this process (the demo, the tests that
look into the running components)."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import threading

from zuulish.app import AllInOne
from zuulish.errors import ConfigError
from zuulish.scheduler import management
from zuulish.server_config import ServerConfig
from zuulish.web.process import WebProcess

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def bind_problem(host: str, port: int) -> str | None:
    """Why the web server could not listen on ``host:port`` (None: it can)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host!r}: {exc.strerror or exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "the address is in use (is zuulish already running?)"
            return exc.strerror or str(exc)
    return None


class WebThread:
    """The dashboard and API served from a background thread's event loop."""

    def __init__(self, aio: AllInOne):
        self.aio = aio
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="web", daemon=True)
        self.runner = None

    def start(self) -> None:
        from zuulish.metrics import RegistryFamilies, Scrape, layout_pipelines
        from zuulish.web.app import create_app, serve
        from zuulish.web.status import change_links

        config = self.aio.config
        self.thread.start()
        app = create_app(self.aio.store, self.aio.layouts, config.state_dir, config.web_url,
                         admin_token=config.admin_token, auth_config=config.auth,
                         max_streams_per_client=config.max_streams_per_client,
                         trusted_proxies=config.trusted_proxies,
                         extra_routes=self.aio.connections.routes,
                         change_links=change_links(self.aio.connections.sources),
                         log_stores=self.aio.log_stores,
                         metrics_scrape=Scrape(self.aio.store,
                                               RegistryFamilies(self.aio.metrics.registry),
                                               dead_after=config.cluster.dead_after,
                                               pipelines=layout_pipelines(self.aio.layouts)),
                         pool_labels={p.name: p.labels for p in config.providers})
        future = asyncio.run_coroutine_threadsafe(
            serve(app, config.listen_host, config.listen_port), self.loop)
        self.runner = future.result(timeout=30)

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def request_reconfigure(aio: AllInOne, who: str) -> int:
    """Record a reconfiguration of every tenant for the scheduler; the event's id."""
    event_id = management.record(aio.store, management.RECONFIGURE,
                                 management.reconfigure_data(None), account=who)
    log.warning("%s: re-reading the tenant file and every project's configuration "
                "(event %s)", who, event_id)
    return event_id


def run_forever(config: ServerConfig) -> None:
    """Serve until SIGINT or SIGTERM; SIGHUP reloads the tenant file, as
    ``zuulish tenant reconfigure`` does. Start-up problems are ConfigErrors."""
    problem = bind_problem(config.listen_host, config.listen_port)
    if problem is not None:
        raise ConfigError(f"web.listen: cannot serve on {config.listen_host}:"
                          f"{config.listen_port}: {problem}", file=str(config.path))
    aio = AllInOne(config)
    hup = threading.Event()
    signal.signal(signal.SIGHUP, lambda *_: hup.set())  # from now on, never fatal
    aio.start()
    # answers never wait on the scheduler's GIL; it serves this process's metrics too
    web = WebProcess(config, aio.layouts, aio.metrics.registry)
    try:
        web.start()
    except ConfigError:
        aio.stop()
        raise
    print(f"zuulish is running: dashboard at {config.web_url}/ (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if hup.is_set():
                hup.clear()
                request_reconfigure(aio, "SIGHUP")
    finally:
        web.stop()
        aio.stop()
