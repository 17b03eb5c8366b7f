"""A request for the nodes one build needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class NodeRequestState(StrEnum):
    REQUESTED = "requested"  # waiting for a provider that can serve it
    PENDING = "pending"      # a cloud provider is booting its nodes
    FULFILLED = "fulfilled"
    FAILED = "failed"        # its nodes failed to boot too often (``error``: the cloud's reason)
    DECLINED = "declined"    # no provider offers its labels
    CANCELED = "canceled"


@dataclass
class NodeRequest:
    id: int
    build_id: str
    labels: tuple[str, ...]
    state: NodeRequestState
    priority: int = 100
    node_ids: tuple[int, ...] = ()
    error: str | None = None
    relative_priority: int = field(default=0)
