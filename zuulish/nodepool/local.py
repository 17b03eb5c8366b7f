"""The local provider: the executor's own host, used through Ansible's local
connection. Each build still gets its own work directory, so builds sharing
the host do not see each other's files."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from zuulish.nodepool.provider import LaunchedNode


class LocalProvider:
    def __init__(self, name: str, labels: tuple[str, ...] = ("local",), max_nodes: int = 4):
        self.name = name
        self.labels = labels
        self.max_nodes = max_nodes

    def refresh(self, labels: set[str]) -> None:
        """Nothing to look at: the executor's host is always there."""

    def launch(self, label: str, busy: Mapping[str, int] | None = None) -> LaunchedNode:
        return LaunchedNode("localhost", {"ansible_connection": "zuulish_local",
                                          "ansible_python_interpreter": sys.executable})

    def release(self, hostname: str, host_vars: dict[str, Any]) -> None:
        """Nothing to tear down: the executor removes the build's work directory."""
