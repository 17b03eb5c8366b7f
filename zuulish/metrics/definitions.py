"""Every counter and histogram a zuulish process records, with its help text.

One :class:`ProcessMetrics` per process object (``Components``, a test's app): it
owns an explicit :class:`~prometheus_client.CollectorRegistry`, so several apps in
one process never share or clash. Call sites are one line, a method named for what
happened (``build_finished``...); the label values are chosen here, and each
metric's series are bounded (:class:`SeriesLimit`), whatever names a
configuration or an untrusted forge event brings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# no ``_created`` series beside each counter and histogram: half the series, and
# Prometheus does not read them from the text format
disable_created_metrics()

#: The most label combinations one metric keeps; later new ones are counted as ``_other``.
MAX_SERIES = 2000
OTHER = "_other"
#: The longest label value kept (longer values are cut).
MAX_VALUE = 200

#: Buckets (seconds) for waits and runs that take seconds to hours.
LONG_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200,
                14400, float("inf"))
#: Buckets (seconds) for steps that take milliseconds to minutes.
SHORT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
                 float("inf"))


class SeriesLimit:
    """Keeps one metric's label combinations under ``limit``: a combination first
    seen once the limit is reached is recorded under ``_other`` in every label."""

    def __init__(self, limit: int = MAX_SERIES):
        self.limit = limit
        self._seen: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    def values(self, *values: object) -> tuple[str, ...]:
        key = tuple("" if v is None else str(v)[:MAX_VALUE] for v in values)
        if key in self._seen:
            return key
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(key)
                return key
        return (OTHER,) * len(key)


class _Labelled(Protocol):
    def labels(self, *values: str) -> Counter | Histogram: ...


class ProcessMetrics:
    """The counters and histograms of one process object, in ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None,
                 max_series: int = MAX_SERIES):
        self.registry = registry if registry is not None else CollectorRegistry()
        self._limits: dict[int, SeriesLimit] = {}
        self._max_series = max_series
        r = self.registry
        # ------------------------------------------------------------ scheduler
        self.events = Counter(
            "zuulish_events_total", "Trigger events the scheduler took from the store and "
            "handled, by connection and event type", ["connection", "type"], registry=r)
        self.event_lag = Histogram(
            "zuulish_event_processing_lag_seconds", "From an event's storing (its "
            "receipt) to the end of its handling by the scheduler", ["connection"],
            buckets=SHORT_BUCKETS, registry=r)
        self.items = Counter(
            "zuulish_items_dequeued_total", "Queue items that left their pipeline, by how "
            "they left (result: merged, reported, failed, dequeued)",
            ["tenant", "pipeline", "result"], registry=r)
        self.resident = Histogram(
            "zuulish_item_resident_seconds", "How long items stayed in their pipeline, "
            "from enqueue to dequeue", ["tenant", "pipeline"], buckets=LONG_BUCKETS,
            registry=r)
        self.time_to_merge = Histogram(
            "zuulish_time_to_merge_seconds", "From enqueue to merge, for the items the "
            "gate merged", ["tenant", "pipeline"], buckets=LONG_BUCKETS, registry=r)
        self.merge_requests = Counter(
            "zuulish_merge_requests_total", "Speculative states the scheduler asked of the "
            "mergers", registry=r)
        self.reconfigurations = Histogram(
            "zuulish_reconfiguration_seconds", "How long loading the tenants' layouts took "
            "(kind: full, the tenant file and every project; project, a configuration "
            "change merged or pushed)", ["kind"], buckets=SHORT_BUCKETS, registry=r)
        # ------------------------------------------------------------ merger
        self.merges = Counter(
            "zuulish_merges_total", "Merge requests a merger finished, by result (merged, "
            "conflict, error)", ["result"], registry=r)
        self.merge_duration = Histogram(
            "zuulish_merge_duration_seconds", "How long a merger took to build one "
            "speculative state", ["result"], buckets=SHORT_BUCKETS, registry=r)
        # ------------------------------------------------------------ executor
        self.builds = Counter(
            "zuulish_builds_total", "Builds an executor finished, by result",
            ["tenant", "pipeline", "project", "job", "result"], registry=r)
        self.build_duration = Histogram(
            "zuulish_build_duration_seconds", "How long finished builds ran, from their "
            "start on an executor to their end", ["tenant", "pipeline", "job", "result"],
            buckets=LONG_BUCKETS, registry=r)
        # ------------------------------------------------------------ launcher
        self.node_requests = Counter(
            "zuulish_node_requests_fulfilled_total", "Node requests the launcher "
            "fulfilled, by the provider of their nodes", ["provider"], registry=r)
        self.node_request_wait = Histogram(
            "zuulish_node_request_fulfil_seconds", "From a node request to its "
            "fulfilment", ["provider"], buckets=LONG_BUCKETS, registry=r)

    # ---------------------------------------------------------------- labels
    def _series(self, metric: _Labelled, *values: object) -> Counter | Histogram:
        limit = self._limits.get(id(metric))
        if limit is None:
            limit = self._limits.setdefault(id(metric), SeriesLimit(self._max_series))
        return metric.labels(*limit.values(*values))

    # ---------------------------------------------------------------- scheduler
    def event_handled(self, connection: str, kind: str, stored_at: float, now: float) -> None:
        self._series(self.events, connection, kind).inc()
        self._series(self.event_lag, connection).observe(max(0.0, now - stored_at))

    def item_ended(self, tenant: str, pipeline: str, state: str, enqueued_at: float,
                   now: float) -> None:
        self._series(self.items, tenant, pipeline, state).inc()
        seconds = max(0.0, now - enqueued_at)
        self._series(self.resident, tenant, pipeline).observe(seconds)
        if state == "merged":
            self._series(self.time_to_merge, tenant, pipeline).observe(seconds)

    def merge_requested(self) -> None:
        self.merge_requests.inc()

    def reconfigured(self, kind: str, seconds: float) -> None:
        self._series(self.reconfigurations, kind).observe(seconds)

    # ---------------------------------------------------------------- merger
    def merge_finished(self, result: object, seconds: float) -> None:
        self._series(self.merges, result).inc()
        self._series(self.merge_duration, result).observe(max(0.0, seconds))

    # ---------------------------------------------------------------- executor
    def build_finished(self, tenant: object, pipeline: object, project: object, job: str,
                       result: str, started_at: float | None, finished_at: float) -> None:
        self._series(self.builds, tenant, pipeline, project, job, result).inc()
        if started_at is not None:
            self._series(self.build_duration, tenant, pipeline, job, result).observe(
                max(0.0, finished_at - started_at))

    def watch_executor(self, running: Callable[[], float], slots: Callable[[], float]) -> None:
        """The executor's load, read at each scrape: builds running and its slots."""
        Gauge("zuulish_executor_running_builds", "Builds holding one of this executor's "
              "slots now (paused builds hold none)", registry=self.registry).set_function(running)
        Gauge("zuulish_executor_slots", "Builds this executor runs at once at most "
              "(executor.workers)", registry=self.registry).set_function(slots)

    # ---------------------------------------------------------------- launcher
    def node_request_fulfilled(self, provider: str, requested_at: float, now: float) -> None:
        self._series(self.node_requests, provider).inc()
        self._series(self.node_request_wait, provider).observe(max(0.0, now - requested_at))
