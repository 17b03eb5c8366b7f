"""State gauges read from the store at scrape time: the whole system's picture.

Every process shares one database, so whichever web is scraped tells the same:
queues, windows, items, builds, node requests, nodes, components and events not
yet handled. One read transaction with one grouped query per table; the answer is
kept for ``ttl`` seconds, so scrapes (however many, from however many scrapers)
cost the database at most one collection a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from zuulish.cluster.db_time import db_now
from zuulish.cluster.registry import RUNNING, STOPPING
from zuulish.model.build import BuildState
from zuulish.model.node import NodeState
from zuulish.store import (
    BuildRow,
    BuildSetRow,
    ChangeQueueRow,
    ComponentRow,
    EventRow,
    MergeRequestRow,
    NodeRequestRow,
    NodeRow,
    QueueItemRow,
    Store,
)

log = logging.getLogger(__name__)

#: An item whose first speculative state is not asked for yet.
NEW_ITEM = "new"
#: The queue label of items not in a shared change queue: an independent or
#: supercedent pipeline's queues are one per change or ref, never labels.
NO_SHARED_QUEUE = ""
#: Nodes counted: every state but deleted (a search of the state index, not a scan
#: of every node there ever was).
LIVE_NODES = tuple(state for state in NodeState if state != NodeState.DELETED)

Pipelines = Callable[[], Iterable[tuple[str, str]]]
#: Builds not finished: what the per-zone gauge counts.
ACTIVE_BUILDS = (BuildState.WAITING, BuildState.QUEUED, BuildState.RUNNING)
PENDING_MERGES = ("requested", "running")


def _label(value: str | None) -> str:
    return "" if value is None else value


class StoreCollector(Collector):
    """Gauges of the store's state; ``now`` gives the time events' ages count from
    (their ``created_at`` is the writer's clock), ``dead_after`` how long a
    component may go without a heartbeat and count as alive. ``pipelines`` gives
    the (tenant, pipeline) pairs whose items are counted (the layouts'): the query
    then searches the index of queued items instead of reading every item there
    ever was; None counts every pipeline's, by that scan."""

    def __init__(self, store: Store, dead_after: float = 15.0, ttl: float = 1.0,
                 now: Callable[[], float] = time.time, pipelines: Pipelines | None = None):
        self.store = store
        self.pipelines = pipelines
        self.dead_after = dead_after
        self.ttl = ttl
        self.now = now
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._at = float("-inf")

    def collect(self) -> Iterable[Metric]:
        with self._lock:  # concurrent scrapes wait for one collection and share it
            if time.monotonic() - self._at >= self.ttl:
                self._cached = self._collect()
                self._at = time.monotonic()
            return list(self._cached)

    def _collect(self) -> list[Metric]:
        up = GaugeMetricFamily("zuulish_store_up", "1 when the store's state gauges below "
                               "could be read at this scrape, 0 when the database failed")
        try:
            with self.store.read() as s:
                families = [*self._queues(s), *self._builds(s), *self._nodes(s),
                            *self._components(s), *self._events(s), *self._merges(s)]
        except SQLAlchemyError as exc:
            log.warning("metrics: cannot read the store: %s", exc)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    # ------------------------------------------------------------ queues
    def _queues(self, s: Session) -> list[Metric]:
        length = GaugeMetricFamily(
            "zuulish_queue_items", "Items in each shared change queue now, live and not "
            "(queue '': the pipeline's items in no shared queue)",
            labels=["tenant", "pipeline", "queue"])
        states = GaugeMetricFamily(
            "zuulish_pipeline_items", "Items in each pipeline now, by the state of their "
            "current speculative state (new: none asked yet; pending: at a merger; "
            "merged: built, jobs run; conflict, error, config-error, no-jobs)",
            labels=["tenant", "pipeline", "state"])
        window = GaugeMetricFamily(
            "zuulish_queue_window", "Each change queue's window: how many items at its "
            "head are active", labels=["tenant", "pipeline", "queue"])
        shared = set()
        for tenant, pipeline, name, size in s.execute(
                select(ChangeQueueRow.tenant, ChangeQueueRow.pipeline, ChangeQueueRow.name,
                       ChangeQueueRow.window).order_by(ChangeQueueRow.id)):
            window.add_metric([tenant, pipeline, name], size)
            shared.add((tenant, pipeline, name))
        query = self._queued_items()
        if query is None:
            return [length, states, window]
        lengths: dict[tuple[str, str, str], int] = defaultdict(int)
        by_state: dict[tuple[str, str, str], int] = defaultdict(int)
        for tenant, pipeline, queue, merge_state, count in s.execute(query):
            if (tenant, pipeline, queue) not in shared:
                queue = NO_SHARED_QUEUE
            lengths[(tenant, pipeline, queue)] += count
            by_state[(tenant, pipeline, merge_state or NEW_ITEM)] += count
        for key, count in sorted(lengths.items()):
            length.add_metric(list(key), count)
        for key, count in sorted(by_state.items()):
            states.add_metric(list(key), count)
        return [length, states, window]

    def _queued_items(self) -> Select | None:
        """Items in queues now, grouped by queue and current merge state (None: no
        pipeline to count)."""
        current = and_(BuildSetRow.item_id == QueueItemRow.id, BuildSetRow.current.is_(True),
                       BuildSetRow.alternate.is_(False))
        query = (select(QueueItemRow.tenant, QueueItemRow.pipeline, QueueItemRow.queue_name,
                        BuildSetRow.merge_state, func.count())
                 .outerjoin(BuildSetRow, current)
                 .where(QueueItemRow.state == "queued")
                 .group_by(QueueItemRow.tenant, QueueItemRow.pipeline,
                           QueueItemRow.queue_name, BuildSetRow.merge_state))
        if self.pipelines is None:
            return query
        pairs = sorted(set(self.pipelines()))
        if not pairs:
            return None
        # one search of ix_queue_items_active (tenant, pipeline, state) per pipeline
        return query.where(or_(*(and_(QueueItemRow.tenant == tenant,
                                      QueueItemRow.pipeline == pipeline)
                                 for tenant, pipeline in pairs)))

    # ------------------------------------------------------------ builds
    def _builds(self, s: Session) -> list[Metric]:
        builds = GaugeMetricFamily(
            "zuulish_builds", "Builds not finished, by executor zone ('' : unzoned) and "
            "state (waiting: for nodes; queued: for an executor; running)",
            labels=["zone", "state"])
        for zone, state, count in s.execute(
                select(BuildRow.zone, BuildRow.state, func.count())
                .where(BuildRow.state.in_(ACTIVE_BUILDS))
                .group_by(BuildRow.zone, BuildRow.state)):
            builds.add_metric([_label(zone), state], count)
        return [builds]

    # ------------------------------------------------------------ nodes
    def _nodes(self, s: Session) -> list[Metric]:
        requests = GaugeMetricFamily(
            "zuulish_node_requests", "Node requests in the store, by state (requested: "
            "waiting for nodes)", labels=["state"])
        for state, count in s.execute(select(NodeRequestRow.state, func.count())
                                      .group_by(NodeRequestRow.state)):
            requests.add_metric([state], count)
        nodes = GaugeMetricFamily(
            "zuulish_nodes", "Nodes not yet deleted, by provider, label and state",
            labels=["provider", "label", "state"])
        for provider, label, state, count in s.execute(
                select(NodeRow.provider, NodeRow.label, NodeRow.state, func.count())
                .where(NodeRow.state.in_(LIVE_NODES))
                .group_by(NodeRow.provider, NodeRow.label, NodeRow.state)):
            nodes.add_metric([provider, label, state], count)
        return [requests, nodes]

    # ------------------------------------------------------------ components
    def _components(self, s: Session) -> list[Metric]:
        rows = GaugeMetricFamily(
            "zuulish_components", "Component rows by kind and state (running, stopping, "
            "stopped, dead)", labels=["kind", "state"])
        alive = GaugeMetricFamily(
            "zuulish_components_alive", "Components running that sent a heartbeat within "
            "cluster.dead_after_seconds, by kind and zone ('' : unzoned)",
            labels=["kind", "zone"])
        cutoff = db_now(s) - self.dead_after
        fresh = and_(ComponentRow.state.in_((RUNNING, STOPPING)),
                     ComponentRow.heartbeat_at >= cutoff)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        live: dict[tuple[str, str], int] = defaultdict(int)
        for kind, state, zone, is_alive, count in s.execute(
                select(ComponentRow.kind, ComponentRow.state, ComponentRow.zone, fresh,
                       func.count())
                .group_by(ComponentRow.kind, ComponentRow.state, ComponentRow.zone, fresh)):
            counts[(kind, state)] += count
            if is_alive:
                live[(kind, _label(zone))] += count
        for key, count in sorted(counts.items()):
            rows.add_metric(list(key), count)
        for key, count in sorted(live.items()):
            alive.add_metric(list(key), count)
        return [rows, alive]

    # ------------------------------------------------------------ events
    def _events(self, s: Session) -> list[Metric]:
        pending = GaugeMetricFamily(
            "zuulish_events_pending", "Events stored and not yet handled by the scheduler, "
            "by connection", labels=["connection"])
        age = GaugeMetricFamily(
            "zuulish_events_oldest_pending_age_seconds", "Age of the oldest event not yet "
            "handled, by connection (the event lag)", labels=["connection"])
        now = self.now()
        for connection, count, oldest in s.execute(
                select(EventRow.connection, func.count(), func.min(EventRow.created_at))
                .where(EventRow.processed_at.is_(None)).group_by(EventRow.connection)):
            pending.add_metric([connection], count)
            age.add_metric([connection], max(0.0, now - oldest))
        return [pending, age]

    # ------------------------------------------------------------ merges
    def _merges(self, s: Session) -> list[Metric]:
        merges = GaugeMetricFamily(
            "zuulish_merge_requests_pending", "Merge requests not finished, by state "
            "(requested: waiting for a merger; running)", labels=["state"])
        for state, count in s.execute(
                select(MergeRequestRow.state, func.count())
                .where(MergeRequestRow.state.in_(PENDING_MERGES))
                .group_by(MergeRequestRow.state)):
            merges.add_metric([state], count)
        return [merges]
