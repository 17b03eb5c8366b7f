"""What ``GET /metrics`` serves, and the listener of a component without a web.

A web serves the store's gauges (:class:`StoreCollector`) and the counters of the
process it runs in: in a test or the demo (the web on a thread of the components'
process) their registry itself; under ``zuulish run`` (the web in a child
process) the families the parent sends when asked, at each scrape
(:class:`ForwardedFamilies`).
A component run on its own (``zuulish scheduler``...) serves its own counters on
``metrics.listen`` (:class:`MetricsServer`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from zuulish.config.layout import Layout
from zuulish.metrics.store_collector import Pipelines, StoreCollector
from zuulish.store import Store

#: How long a scrape of ``zuulish run``'s web waits for the components' counters
#: (seconds); past it, it serves those they sent last.
FORWARD_WAIT = 2.0


class RegistryFamilies(Collector):
    """Another registry's families, as one collector (the web thread's process)."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return list(self.registry.collect())


class ForwardedFamilies(Collector):
    """The families of another process (``zuulish run``'s components): at each
    collection ``request`` asks for them, and the answer comes to :meth:`replace`
    (from the thread that reads the other process's messages) within ``wait``
    seconds, or the last ones sent are served. Without ``request``: the last ones."""

    def __init__(self, request: Callable[[], None] | None = None,
                 wait: float = FORWARD_WAIT) -> None:
        self._families: list[Metric] = []
        self._request = request
        self._wait = wait
        self._fresh = threading.Event()
        self._asking = threading.Lock()  # one request at a time; the others wait for it

    def replace(self, families: list[Metric]) -> None:
        self._families = list(families)
        self._fresh.set()

    def collect(self) -> Iterable[Metric]:
        if self._request is not None:
            with self._asking:
                self._fresh.clear()
                try:
                    self._request()
                except OSError:  # the other process is gone: what it sent last
                    return list(self._families)
                self._fresh.wait(self._wait)
        return list(self._families)


def snapshot(registry: CollectorRegistry) -> list[Metric]:
    """A registry's families now, to send to another process (they pickle)."""
    return list(registry.collect())


class HasLayouts(Protocol):
    """What the web reads of the tenants' layouts (TenantLayouts, the web process's
    mirror of them)."""

    @property
    def layouts(self) -> Mapping[str, Layout]: ...


def layout_pipelines(layouts: HasLayouts) -> Pipelines:
    """The (tenant, pipeline) pairs of the layouts running now."""
    return lambda: [(tenant, pipeline) for tenant, layout in dict(layouts.layouts).items()
                    for pipeline in layout.pipelines]


class Scrape:
    """The registry a web's ``/metrics`` renders: the store's gauges, then the
    families of ``process`` (none: the store's gauges alone, as ``zuulish web``).
    ``pipelines`` (:func:`layout_pipelines`) are those whose items are counted (see
    StoreCollector)."""

    def __init__(self, store: Store, process: Collector | None = None,
                 dead_after: float = 15.0, ttl: float = 1.0,
                 now: Callable[[], float] = time.time, pipelines: Pipelines | None = None):
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(store, dead_after=dead_after, ttl=ttl, now=now,
                                              pipelines=pipelines))
        if process is not None:
            self.registry.register(process)

    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsServer:
    """``metrics.listen``: a component's own counters over HTTP (``/metrics``)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry):
        self.host, self.port = host, port
        self.registry = registry
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen now; OSError when the address cannot be bound."""
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(self.port, addr=self.host,
                                                       registry=self.registry)
        self.port = self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
