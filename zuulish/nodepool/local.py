"""The local provider: nodes on the executor's host, each an isolated sandbox
per build (``zuulish.executor.local_node``), used through the ``zuulish_local``
connection. ``host_paths`` are host paths its nodes see, read-only (tools an
operator provides; never the executor's state directory)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from zuulish.executor.local_node import HOST_PATHS_VAR
from zuulish.nodepool.provider import LaunchedNode


class LocalProvider:
    def __init__(self, name: str, labels: tuple[str, ...] = ("local",), max_nodes: int = 4,
                 host_paths: tuple[str, ...] = ()):
        self.name = name
        self.labels = labels
        self.max_nodes = max_nodes
        self.host_paths = host_paths

    def refresh(self, labels: set[str]) -> None:
        """Nothing to look at: the executor's host is always there."""

    def launch(self, label: str, busy: Mapping[str, int] | None = None) -> LaunchedNode:
        host_vars: dict[str, Any] = {"ansible_connection": "zuulish_local",
                                     "ansible_python_interpreter": sys.executable}
        if self.host_paths:
            host_vars[HOST_PATHS_VAR] = list(self.host_paths)
        return LaunchedNode("localhost", host_vars)

    def release(self, hostname: str, host_vars: dict[str, Any]) -> None:
        """Nothing to tear down: the executor stops the build's node and removes its
        work directory."""
