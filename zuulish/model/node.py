"""Nodes handed out by node pools."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NodeState(StrEnum):
    """A node's lifecycle: requested -> building -> ready -> in-use -> used ->
    deleting -> deleted; a boot that fails goes failed -> deleting; an autohold
    keeps a failed build's nodes held until it expires (then used)."""

    REQUESTED = "requested"  # to be created; no cloud id yet
    BUILDING = "building"    # the cloud is booting it (or SSH is not answering yet)
    READY = "ready"          # booted and reachable; waiting for its request's others
    IN_USE = "in-use"        # handed to a build
    USED = "used"            # its build ended; to be deleted (or given back)
    DELETING = "deleting"    # the cloud is deleting it
    DELETED = "deleted"
    FAILED = "failed"        # its boot failed (``error`` says why); to be deleted
    HELD = "held"            # kept for a person by an autohold


#: states in which a node is gone from its provider, or never reached it
FINISHED_NODE_STATES = (NodeState.DELETED,)


@dataclass
class Node:
    id: int
    provider: str
    label: str
    state: NodeState
    hostname: str
    host_vars: dict[str, Any] = field(default_factory=dict)
