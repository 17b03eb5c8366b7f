"""Which change queues the next scheduler pass must plan again.

A pass plans only the queues something happened to since they were last
planned: an item joined or left, a merge result or node assignment arrived, a
build finished, or the pass before produced actions for it (whose effects the
next plan must see). Everything is dirty after a start (a restart knows
nothing) and when a tenant's layout changes. Planning a clean queue would
return no actions, so skipping it changes no decision; it only saves the work
of loading and planning queues where nothing moved.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class DirtyQueues:
    everything: bool = True
    tenants: set[str] = field(default_factory=set)
    pipelines: set[tuple[str, str]] = field(default_factory=set)
    queues: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    def mark(self, tenant: str, pipeline: str, queue: str) -> None:
        self.queues[(tenant, pipeline)].add(queue)

    def mark_pipeline(self, tenant: str, pipeline: str) -> None:
        self.pipelines.add((tenant, pipeline))

    def mark_tenant(self, tenant: str) -> None:
        self.tenants.add(tenant)

    def take(self) -> DirtyQueues:
        """What is dirty now; marks made after this go to the next pass."""
        taken = DirtyQueues(self.everything, self.tenants, self.pipelines, self.queues)
        self.everything, self.tenants, self.pipelines = False, set(), set()
        self.queues = defaultdict(set)
        return taken

    def of(self, tenant: str, pipeline: str) -> frozenset[str] | None:
        """The dirty queues of a pipeline: ``None`` means all of them."""
        if self.everything or tenant in self.tenants or (tenant, pipeline) in self.pipelines:
            return None
        return frozenset(self.queues.get((tenant, pipeline), ()))
