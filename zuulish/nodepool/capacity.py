"""What the nodes in the store cost, per provider and per tenant, and the order in
which waiting requests are served.

A node costs its provider from the moment it is requested until the cloud has
deleted it (building, failed and deleting nodes hold quota too). Requests are
served in priority order (pipeline precedence, then relative priority, as the
scheduler set ``priority``), except that requests for scarce labels (GPUs, bare
metal) are shared between tenants by weight: the next scarce request served is
the best of the tenant that holds the fewest scarce nodes for its weight, so one
tenant's flood cannot starve another.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from zuulish.model.node import NodeState
from zuulish.nodepool.resources import Limits, Resources
from zuulish.store import NodeRequestRow, NodeRow

#: the states in which a node holds its provider's quota
HOLDING = (NodeState.REQUESTED, NodeState.BUILDING, NodeState.READY, NodeState.IN_USE,
           NodeState.USED, NodeState.DELETING, NodeState.FAILED, NodeState.HELD)


@dataclass
class Usage:
    """Resources held, per provider and per tenant, kept current as nodes are added."""

    providers: dict[str, Resources] = field(default_factory=dict)
    tenants: dict[str, Resources] = field(default_factory=dict)
    scarce: Counter[str] = field(default_factory=Counter)  # scarce nodes per tenant

    def add(self, provider: str, tenant: str | None, cost: Resources,
            scarce: bool = False) -> None:
        self.providers[provider] = self.providers.get(provider, Resources()) + cost
        if tenant is not None:
            self.tenants[tenant] = self.tenants.get(tenant, Resources()) + cost
            if scarce:
                self.scarce[tenant] += cost.instances

    def provider(self, name: str) -> Resources:
        return self.providers.get(name, Resources())

    def tenant(self, name: str | None) -> Resources:
        return self.tenants.get(name, Resources()) if name is not None else Resources()


def load_usage(s: Session, scarce_labels: set[str]) -> Usage:
    """What the nodes in the store hold now."""
    usage = Usage()
    # grouped by the resources' text: PostgreSQL has no equality for its json type
    resources_text = cast(NodeRow.resources, Text)
    rows = s.execute(select(NodeRow.provider, NodeRow.tenant, NodeRow.label,
                            resources_text, func.count())
                     .where(NodeRow.state.in_(HOLDING))
                     .group_by(NodeRow.provider, NodeRow.tenant, NodeRow.label,
                               resources_text)).all()
    for provider, tenant, label, resources, count in rows:
        cost = Resources.from_dict((json.loads(resources) if resources else None)
                                   or {"instances": 1})
        for _ in range(count):
            usage.add(provider, tenant, cost, label in scarce_labels)
    return usage


def over(limits: Limits, held: Resources, extra: Resources) -> str | None:
    """Why adding ``extra`` to ``held`` would break ``limits`` (None: it would not)."""
    return limits.exceeded_by(held + extra)


def serving_order(requests: Sequence[NodeRequestRow], is_scarce: Callable[[NodeRequestRow], bool],
                  usage: Usage, weights: Mapping[str, float]) -> Iterator[NodeRequestRow]:
    """The requests in the order to serve them (see the module): the others by
    priority first, then the scarce ones, fairly between tenants."""
    plain = [r for r in requests if not is_scarce(r)]
    yield from sorted(plain, key=lambda r: (r.priority, r.id))
    yield from fair_order([r for r in requests if is_scarce(r)], usage.scarce, weights)


def fair_order(requests: Iterable[NodeRequestRow], held: Counter[str],
               weights: Mapping[str, float]) -> Iterator[NodeRequestRow]:
    """Weighted round robin over tenants: each next request is the best of the
    tenant whose scarce nodes (held, plus those this order has given it) are fewest
    for its weight (default 1); ties by priority, then age."""
    queues: dict[str, list[NodeRequestRow]] = defaultdict(list)
    for r in sorted(requests, key=lambda r: (r.priority, r.id), reverse=True):
        queues[r.tenant or ""].append(r)  # best last: popped first
    given = Counter(held)
    while queues:
        def share(tenant: str) -> tuple[float, int, int]:
            head = queues[tenant][-1]
            return (given[tenant] / max(weights.get(tenant, 1.0), 1e-9), head.priority, head.id)
        tenant = min(queues, key=share)
        request = queues[tenant].pop()
        if not queues[tenant]:
            del queues[tenant]
        given[tenant] += len(request.labels)
        yield request
