"""The web server in a process of its own, beside the scheduler's.

``zuulish run`` serves the dashboard, the API and the connections' webhooks
(GitHub's ``/api/connection/{name}/payload``) from a child process: the
scheduler's passes, the merger, the executor and the intake workers never hold
the web server's interpreter lock, so an answer (a webhook's 2xx) never waits
behind them. It is the same application (:func:`zuulish.web.app.create_app`)
with the same routes; only the process differs.

What the two processes share:

* the database: the child opens its own :class:`~zuulish.store.Store` on the
  same URL (a webhook's delivery is stored there before its 2xx, as before);
* wake-ups: what the child notifies (a stored delivery, a management event) is
  forwarded to the parent as a datagram (:func:`zuulish.store.notify.wake`) and,
  on PostgreSQL, reaches every host through LISTEN/NOTIFY as well;
* the tenants' layouts: the parent owns them (the scheduler reconfigures them);
  it sends the child a copy at start and whenever one changes
  (:class:`LayoutsMirror`), so the pages show what the scheduler runs;
* metrics: at each scrape of ``/metrics`` the child asks the parent for its
  counters' families (the message ``METRICS``) and serves the answer beside the
  store's gauges (:class:`~zuulish.metrics.ForwardedFamilies`).

The child ignores SIGINT and SIGHUP (the parent decides when to stop) and stops
when the parent tells it to or when the parent is gone (its pipe closes),
storing the deliveries it accepted before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from zuulish.config.layout import Layout
from zuulish.errors import ConfigError
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.server_config import ServerConfig

log = logging.getLogger(__name__)

#: how often the parent looks for changed layouts (a cheap identity comparison)
LAYOUT_POLL = 0.1
#: the child's request for the parent's metrics
METRICS = "metrics"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class LayoutSnapshot:
    """What the web application reads of the tenants' layouts."""

    layouts: dict[str, Layout]
    errors: dict[str, list[dict[str, object]]]


def snapshot(layouts: TenantLayouts) -> LayoutSnapshot:
    current = dict(layouts.layouts)
    return LayoutSnapshot(current, {name: layouts.config_errors(name) for name in current})


def _fingerprint(layouts: TenantLayouts) -> tuple[Any, ...]:
    """Changes whenever a layout, a refused load or the tenant file's error does
    (each is replaced by a new object, never changed in place)."""
    return (tuple(layouts.layouts.items()), tuple(layouts.refused.items()),
            layouts.tenant_file_error)


@dataclass(frozen=True)
class MetricsSnapshot:
    """The parent's counters and histograms, as the child serves them."""

    families: list[Metric]


class LayoutsMirror:
    """The child's read-only copy of the parent's :class:`TenantLayouts`: the two
    things the web application reads, ``layouts`` and ``config_errors``."""

    def __init__(self, first: LayoutSnapshot):
        self._snapshot = first

    @property
    def layouts(self) -> dict[str, Layout]:
        return self._snapshot.layouts

    def config_errors(self, tenant: str) -> list[dict[str, object]]:
        return list(self._snapshot.errors.get(tenant, []))

    def replace(self, new: LayoutSnapshot) -> None:
        self._snapshot = new


# ---------------------------------------------------------------------- the child
def _serve(config: ServerConfig, first: LayoutSnapshot, control: Connection) -> None:
    """The child process: serve until told to stop or until the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve_async(config, first, control))


async def _serve_async(config: ServerConfig, first: LayoutSnapshot,
                       control: Connection) -> None:
    from zuulish.drivers.github.webhook import Webhook
    from zuulish.drivers.registry import make_connections
    from zuulish.logs.stores import make_log_stores
    from zuulish.metrics import ForwardedFamilies, Scrape, layout_pipelines
    from zuulish.store import Store
    from zuulish.web.app import create_app, serve
    from zuulish.web.status import change_links

    store = Store(config.database)
    store.notifier.forward(config.state_dir)
    connections = make_connections(config, store)
    mirror = LayoutsMirror(first)
    sending = threading.Lock()

    def ask_for_metrics() -> None:
        with sending:
            control.send(METRICS)

    forwarded = ForwardedFamilies(ask_for_metrics)
    # the web's own services are those that serve its routes (the webhooks' writers);
    # the rest (intake workers, event streams) run in the parent
    owners = [s for s in connections.services if isinstance(s, Webhook)]
    app = create_app(store, mirror, config.state_dir, config.web_url,  # type: ignore[arg-type]
                     admin_token=config.admin_token, auth_config=config.auth,
                     max_streams_per_client=config.max_streams_per_client,
                     trusted_proxies=config.trusted_proxies,
                     extra_routes=connections.routes,
                     change_links=change_links(connections.sources),
                     log_stores=make_log_stores(config.logs, config.state_dir),
                     metrics_scrape=Scrape(store, forwarded,
                                           dead_after=config.cluster.dead_after,
                                           pipelines=layout_pipelines(mirror)),
                     pool_labels={p.name: p.labels for p in config.providers})
    try:
        runner = await serve(app, config.listen_host, config.listen_port)
    except OSError as exc:
        control.send(("error", exc.strerror or str(exc)))
        _close(owners, store)
        return
    control.send(("listening", None))
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def receive() -> None:
        try:
            while True:
                message = control.recv()
                if message is None:
                    break
                if isinstance(message, MetricsSnapshot):
                    forwarded.replace(message.families)
                else:
                    mirror.replace(message)
        except (EOFError, OSError):
            log.warning("web: the zuulish process is gone; stopping")
        loop.call_soon_threadsafe(stopped.set)

    threading.Thread(target=receive, name="web-control", daemon=True).start()
    await stopped.wait()
    await runner.cleanup()
    _close(owners, store)


def _close(owners: list[Any], store: Any) -> None:
    for service in owners:
        service.stop()  # stores what was accepted
    store.dispose()


# ---------------------------------------------------------------------- the parent
class WebProcess:
    """Starts, feeds and stops the web server's child process (the parent's side)."""

    def __init__(self, config: ServerConfig, layouts: TenantLayouts,
                 metrics: CollectorRegistry | None = None):
        self.config = config
        self.layouts = layouts
        self.metrics = metrics  # this process's counters, for the child's /metrics
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self._process = context.Process(target=_serve, name="zuulish-web",
                                        args=(config, snapshot(layouts), child))
        self._child_end = child
        self._stop = threading.Event()
        self._sender = threading.Thread(target=self._send_layouts, name="web-layouts",
                                        daemon=True)
        self._receiver = threading.Thread(target=self._answer, name="web-requests",
                                          daemon=True)
        self._send_lock = threading.Lock()

    @property
    def pid(self) -> int:
        """The web server's process id (once started)."""
        if self._process.pid is None:
            raise RuntimeError("the web server's process is not started")
        return self._process.pid

    def start(self) -> None:
        """Start the child and wait until it listens; a ConfigError when it cannot."""
        seen = _fingerprint(self.layouts)
        self._process.start()
        self._child_end.close()
        if not self._control.poll(START_TIMEOUT):
            self.stop()
            raise ConfigError(f"web.listen: the web server did not start within "
                              f"{START_TIMEOUT:.0f} s", file=str(self.config.path))
        try:
            state, problem = self._control.recv()
        except EOFError:
            state, problem = "error", "the web server's process exited while starting"
        if state != "listening":
            self._process.join(10)
            raise ConfigError(f"web.listen: cannot serve on {self.config.listen_host}:"
                              f"{self.config.listen_port}: {problem}",
                              file=str(self.config.path))
        if _fingerprint(self.layouts) != seen:
            self._push()
        self._seen = _fingerprint(self.layouts)
        self._sender.start()
        self._receiver.start()

    def _push(self, message: LayoutSnapshot | MetricsSnapshot | None = None) -> None:
        with self._send_lock:
            if not self._stop.is_set():
                self._control.send(message or snapshot(self.layouts))

    def _send_layouts(self) -> None:
        while not self._stop.wait(LAYOUT_POLL):
            now = _fingerprint(self.layouts)
            if now != self._seen:
                self._seen = now  # holding the objects: their ids are not reused
                try:
                    self._push()
                except OSError as exc:
                    log.error("web: cannot send the layouts to the web server: %s", exc)
                    return

    def _answer(self) -> None:
        """Answer the child's requests (its scrapes of /metrics) until it is gone."""
        while True:
            try:
                message = self._control.recv()
            except (EOFError, OSError):
                return
            if message == METRICS and self.metrics is not None:
                try:
                    self._push_metrics()
                except OSError as exc:
                    log.error("web: cannot send the metrics to the web server: %s", exc)
                    return

    def _push_metrics(self) -> None:
        """This process's counters to the child; a failure to collect them (a bug) is
        logged and never stops the layouts from being sent."""
        from zuulish.metrics import snapshot as metrics_snapshot

        assert self.metrics is not None
        try:
            families = metrics_snapshot(self.metrics)
        except Exception:  # a bug in a collector: log it, keep the web's layouts flowing
            log.exception("web: cannot collect this process's metrics")
            return
        self._push(MetricsSnapshot(families))

    def stop(self) -> None:
        """Tell the child to stop (it stores what it accepted), and wait for it."""
        with self._send_lock:
            self._stop.set()
            with contextlib.suppress(OSError):  # the child is gone already
                self._control.send(None)
        if self._sender.is_alive():
            self._sender.join(5)
        if self._process.pid is not None:
            self._process.join(30)
            if self._process.is_alive():
                log.error("web: the web server did not stop within 30 s; terminating it")
                self._process.terminate()
                self._process.join(5)
        if self._receiver.is_alive():  # the child's end closed with it: it reads the end
            self._receiver.join(5)
        self._control.close()
