"""Nodes handed out by node pools."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NodeState(StrEnum):
    READY = "ready"
    IN_USE = "in-use"
    USED = "used"
    FAILED = "failed"


@dataclass
class Node:
    id: int
    provider: str
    label: str
    state: NodeState
    hostname: str
    host_vars: dict[str, Any] = field(default_factory=dict)
