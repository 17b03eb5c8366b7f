"""The launcher: fulfils node requests from the providers that offer their labels."""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import select

from zuulish.clock import Clock
from zuulish.nodepool.provider import LaunchedNode, Provider
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
        self._refresh_providers()
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
                # A used node not yet released still holds its host: the executor
                # may have marked it used (its host lost) after this run's release
                # pass, and the host's last scan says nothing about it since.
                busy = Counter(s.scalars(select(NodeRow.hostname).where(
                    NodeRow.provider == provider.name,
                    NodeRow.state.in_(("ready", "in-use", "used")))).all())
                if sum(busy.values()) + len(req.labels) > provider.max_nodes:
                    full.add(provider.name)  # keep priority order: wait for capacity
                    continue
                launched = self._launch_all(provider, list(req.labels), busy)
                if launched is None:
                    full.add(provider.name)  # no free host for a label: wait for one
                    continue
                node_ids = []
                for label, node in zip(req.labels, launched, strict=True):
                    row = NodeRow(provider=provider.name, label=label, state="in-use",
                                  hostname=node.hostname, host_vars=node.host_vars,
                                  host_keys=list(node.host_keys), request_id=req.id,
                                  created_at=self.clock.now())
                    s.add(row)
                    s.flush()
                    node_ids.append(row.id)
                req.node_ids, req.state, req.fulfilled_at = node_ids, "fulfilled", \
                    self.clock.now()
                handled += 1
        if handled:
            self.store.notifier.notify(channels.SCHEDULER)
        return bool(handled or released)

    def _refresh_providers(self) -> None:
        """Let providers look at their machines for the labels asked for, before
        the transaction that hands nodes out."""
        with self.store.read() as s:
            wanted = {label for labels in s.scalars(select(NodeRequestRow.labels).where(
                NodeRequestRow.state == "requested")) for label in labels}
        if wanted:
            for provider in self.providers:
                if wanted & set(provider.labels):
                    provider.refresh(wanted)

    @staticmethod
    def _launch_all(provider: Provider, labels: list[str],
                    busy: Counter[str]) -> list[LaunchedNode] | None:
        """One node per label, or None (and nothing taken) when one cannot be had."""
        taken: list[LaunchedNode] = []
        for label in labels:
            node = provider.launch(label, busy)
            if node is None:
                for node in taken:
                    provider.release(node.hostname, node.host_vars)
                return None
            busy[node.hostname] += 1
            taken.append(node)
        return taken

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
