"""What the launcher needs of a node provider."""

from __future__ import annotations

from typing import Any, Protocol


class Provider(Protocol):
    name: str
    labels: tuple[str, ...]
    max_nodes: int

    def launch(self, label: str) -> tuple[str, dict[str, Any]]:
        """Make a node with ``label`` ready; return (hostname, Ansible host vars)."""

    def release(self, hostname: str, host_vars: dict[str, Any]) -> None:
        """Give the node back (delete a VM, clean a static host, ...)."""
