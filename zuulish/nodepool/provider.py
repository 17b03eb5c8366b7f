"""What the launcher needs of a node provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class LaunchedNode:
    """A node a provider made ready: where it is, how Ansible reaches it, and the
    SSH host keys the executor must see there (empty: none known or checked)."""

    hostname: str
    host_vars: dict[str, Any]
    host_keys: list[str] = field(default_factory=list)


class Provider(Protocol):
    name: str
    labels: tuple[str, ...]
    max_nodes: int

    def refresh(self, labels: set[str]) -> None:
        """Look at the machines that serve ``labels`` (slow I/O such as SSH key
        scans belongs here: it runs outside the launcher's transaction)."""

    def launch(self, label: str, busy: Mapping[str, int]) -> LaunchedNode | None:
        """Make a node with ``label`` ready; None when none can be had now (no I/O
        that may hang: the launcher holds its transaction).

        ``busy`` counts, per hostname, the provider's nodes in use (a static
        host serves a bounded number of builds at once)."""

    def release(self, hostname: str, host_vars: dict[str, Any]) -> None:
        """Give the node back (delete a VM, clean a static host, ...)."""
