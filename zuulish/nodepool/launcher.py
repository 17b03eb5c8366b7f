"""The launcher: fulfils node requests from the providers that offer their labels."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from zuulish.clock import Clock
from zuulish.nodepool.provider import Provider
from zuulish.store import NodeRequestRow, NodeRow, Store
from zuulish.store import notify as channels

log = logging.getLogger(__name__)


class Launcher:
    def __init__(self, store: Store, providers: list[Provider], clock: Clock):
        self.store = store
        self.providers = providers
        self.clock = clock

    def _provider_for(self, labels: list[str]) -> Provider | None:
        for provider in self.providers:
            if all(label in provider.labels for label in labels):
                return provider
        return None

    def run_once(self) -> bool:
        handled = 0
        released = self._release_used()
        with self.store.session() as s:
            requests = s.scalars(select(NodeRequestRow)
                                 .where(NodeRequestRow.state == "requested")
                                 .order_by(NodeRequestRow.priority, NodeRequestRow.id)
                                 .with_for_update(skip_locked=True)).all()
            full: set[str] = set()
            for req in requests:
                provider = self._provider_for(list(req.labels))
                if provider is None:
                    offered = sorted({label for p in self.providers for label in p.labels})
                    req.state = "declined"  # as nodepool says: no provider can serve it
                    req.error = (f"no node provider offers label(s) {', '.join(req.labels)}; "
                                 f"labels offered: {', '.join(offered) or 'none'}")
                    handled += 1
                    continue
                if provider.name in full:
                    continue
                in_use = s.scalar(select(func.count(NodeRow.id)).where(
                    NodeRow.provider == provider.name, NodeRow.state.in_(("ready", "in-use"))))
                if in_use + len(req.labels) > provider.max_nodes:
                    full.add(provider.name)  # keep priority order: wait for capacity
                    continue
                node_ids = []
                for label in req.labels:
                    hostname, host_vars = provider.launch(label)
                    node = NodeRow(provider=provider.name, label=label, state="in-use",
                                   hostname=hostname, host_vars=host_vars, request_id=req.id,
                                   created_at=self.clock.now())
                    s.add(node)
                    s.flush()
                    node_ids.append(node.id)
                req.node_ids, req.state, req.fulfilled_at = node_ids, "fulfilled", \
                    self.clock.now()
                handled += 1
        if handled:
            self.store.notifier.notify(channels.SCHEDULER)
        return bool(handled or released)

    def _release_used(self) -> int:
        """Tear down nodes whose builds are done."""
        with self.store.session() as s:
            nodes = s.scalars(select(NodeRow).where(NodeRow.state == "used")).all()
            for node in nodes:
                provider = next((p for p in self.providers if p.name == node.provider), None)
                if provider is not None:
                    provider.release(node.hostname, node.host_vars)
                node.state = "deleted"
        return len(nodes)
