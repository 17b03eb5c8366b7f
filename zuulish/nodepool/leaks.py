"""Leaks: instances a cloud has that the store does not account for, and records
the store keeps of instances the cloud no longer has.

The launcher lists each cloud provider's tagged instances at start and then on a
schedule, and compares them with its node rows:

- an instance of this installation and provider whose node the store does not
  know, or knows as deleted, or knows under another cloud id (a boot repeated
  after a crash), is deleted;
- an instance whose node is still ``requested`` with no cloud id is adopted: the
  launcher was stopped between asking the cloud and recording the answer;
- a node whose instance is missing from the list (and was not made in the last
  ``GRACE_SECONDS``: clouds list new instances late) has vanished.

Instances of other installations (another ``zuulish-system``) or of other
providers are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from zuulish.model.node import NodeState
from zuulish.nodepool.cloud import TAG_NODE, TAG_PROVIDER, TAG_SYSTEM, Instance

GRACE_SECONDS = 60.0

#: node states whose instance should exist in the cloud
EXPECTED = (NodeState.BUILDING, NodeState.READY, NodeState.IN_USE, NodeState.USED,
            NodeState.DELETING, NodeState.FAILED, NodeState.HELD)


@dataclass(frozen=True)
class NodeRecord:
    id: int
    state: str
    external_id: str | None
    state_at: float


@dataclass
class SweepPlan:
    delete: list[str] = field(default_factory=list)        # cloud ids to delete
    adopt: dict[int, str] = field(default_factory=dict)     # node id -> its cloud id
    vanished: list[int] = field(default_factory=list)       # node ids the cloud lost


def plan_sweep(system_id: str, provider: str, instances: Iterable[Instance],
               records: Mapping[int, NodeRecord], creating: set[int],
               listed_at: float) -> SweepPlan:
    """What to do about the differences (see the module). ``creating``: nodes whose
    create call is in flight now; ``listed_at``: when the list was asked for."""
    plan = SweepPlan()
    seen: set[str] = set()
    for instance in instances:
        tags = instance.tags
        if tags.get(TAG_SYSTEM) != system_id or tags.get(TAG_PROVIDER) != provider:
            continue
        seen.add(instance.external_id)
        try:
            record = records.get(int(tags.get(TAG_NODE, "")))
        except ValueError:
            record = None
        if record is None or record.state == NodeState.DELETED:
            plan.delete.append(instance.external_id)
        elif record.external_id is None:
            if record.state == NodeState.REQUESTED and record.id not in creating:
                plan.adopt[record.id] = instance.external_id
            elif record.id not in creating:
                plan.delete.append(instance.external_id)
        elif record.external_id != instance.external_id:
            plan.delete.append(instance.external_id)
    for record in records.values():
        if record.external_id and record.external_id not in seen \
                and record.state in EXPECTED and record.state_at < listed_at - GRACE_SECONDS:
            plan.vanished.append(record.id)
    return plan
