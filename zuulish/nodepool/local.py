"""The local provider: nodes on the executor's host, each an isolated sandbox
per build (``zuulish.executor.local_node``), used through the ``zuulish_local``
connection. ``host_paths`` are host paths its nodes see, read-only (tools an
operator provides; never the executor's state directory).

GPUs: with ``gpus`` ``auto`` (every GPU ``nvidia-smi`` lists) or a number (at
most that many of them, lowest indexes first), the nodes of each label of
``gpu_labels`` get that many GPUs of their own: no two nodes hold one at the
same time, and a node of any other label gets none. The GPUs are detected once,
when the provider is made (``gpus.detect``). A label that needs more GPUs than
were found is withdrawn from ``labels`` (so its requests fail, naming it,
instead of waiting forever); while every GPU is held, ``launch`` returns None
and the request waits. The indexes a node holds are in its host vars
(``GPUS_VAR``, with its device files and host paths for the executor) and are
free again on ``release``. What the provider holds is in memory: the launcher
calls ``adopt`` at start with the host vars of the nodes still in use.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from zuulish.executor.local_node import GPUS_VAR, HOST_PATHS_VAR, NodeGpus
from zuulish.nodepool import gpus as gpu_detection
from zuulish.nodepool.cloud import LabelOffer
from zuulish.nodepool.provider import LaunchedNode
from zuulish.nodepool.resources import Resources

log = logging.getLogger(__name__)

GPUS_NONE = "none"
GPUS_AUTO = "auto"
Detect = Callable[..., gpu_detection.GpuHost]


class LocalProvider:
    def __init__(self, name: str, labels: tuple[str, ...] = ("local",), max_nodes: int = 4,
                 host_paths: tuple[str, ...] = (), gpus: str | int = GPUS_NONE,
                 gpu_labels: Mapping[str, int] | None = None,
                 nvidia_smi: str = "nvidia-smi", gpu_paths: tuple[str, ...] | None = None,
                 device_root: Path = Path("/dev"),
                 detect: Detect = gpu_detection.detect):
        self.name = name
        self.max_nodes = max_nodes
        self.host_paths = host_paths
        self.gpu_labels = dict(gpu_labels or {}) if gpus != GPUS_NONE else {}
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self.gpu_host = gpu_detection.GpuHost(device_root=device_root)
        if self.gpu_labels:
            found = detect(nvidia_smi, device_root=device_root, gpu_paths=gpu_paths)
            usable = found.gpus if gpus == GPUS_AUTO else found.gpus[:int(gpus)]
            if gpus != GPUS_AUTO and len(usable) < int(gpus):
                log.warning("local provider %s: gpus is %s, but %d GPU(s) were found",
                            name, gpus, len(usable))
            self.gpu_host = gpu_detection.GpuHost(usable, found.device_root,
                                                  found.shared_devices, found.paths)
        self.gpus: dict[int, gpu_detection.Gpu] = {g.index: g for g in self.gpu_host.gpus}
        withdrawn = [label for label, n in self.gpu_labels.items() if n > len(self.gpus)]
        for label in withdrawn:
            log.warning("local provider %s: label %s needs %d GPU(s), %d found: not offered",
                        name, label, self.gpu_labels[label], len(self.gpus))
        self.labels = tuple(label for label in labels if label not in withdrawn)
        model = self.gpu_host.gpus[0].model if self.gpu_host.gpus else None
        # what one node of each label is (what the launcher reads of cloud providers)
        self.offers: dict[str, LabelOffer] = {
            label: LabelOffer(label, Resources(instances=1, gpus=self.gpu_labels.get(label, 0)),
                              model if self.gpu_labels.get(label) else None)
            for label in self.labels}

    def refresh(self, labels: set[str]) -> None:
        """Nothing to look at: the executor's host is always there."""

    @property
    def free_gpus(self) -> list[int]:
        """The indexes of the GPUs no node holds."""
        with self._lock:
            return sorted(set(self.gpus) - self._held)

    def launch(self, label: str, busy: Mapping[str, int] | None = None
               ) -> LaunchedNode | None:
        host_vars: dict[str, Any] = {"ansible_connection": "zuulish_local",
                                     "ansible_python_interpreter": sys.executable}
        if self.host_paths:
            host_vars[HOST_PATHS_VAR] = list(self.host_paths)
        wanted = self.gpu_labels.get(label, 0)
        if wanted:
            with self._lock:
                free = sorted(set(self.gpus) - self._held)
                if len(free) < wanted:
                    return None  # every GPU is held: the request waits
                taken = free[:wanted]
                self._held.update(taken)
            host_vars[GPUS_VAR] = self._node_gpus(taken).to_var()
        return LaunchedNode("localhost", host_vars)

    def _node_gpus(self, indexes: list[int]) -> NodeGpus:
        return NodeGpus(tuple(indexes), tuple(self.gpus[i].uuid for i in indexes),
                        self.gpu_host.devices(indexes), self.gpu_host.paths)

    def release(self, hostname: str, host_vars: dict[str, Any]) -> None:
        """Free the node's GPUs; nothing else to tear down: the executor stops the
        build's node and removes its work directory."""
        with self._lock:
            self._held.difference_update(_indexes(host_vars))

    def adopt(self, nodes_host_vars: Iterable[Mapping[str, Any]]) -> None:
        """Hold the GPUs of nodes handed out before this provider was made (the
        nodes of the store still in use when the launcher starts)."""
        with self._lock:
            for host_vars in nodes_host_vars:
                self._held.update(i for i in _indexes(host_vars) if i in self.gpus)


def _indexes(host_vars: Mapping[str, Any]) -> list[int]:
    """The GPU indexes a node's host vars say it holds."""
    given = host_vars.get(GPUS_VAR)
    if not isinstance(given, Mapping):
        return []
    return [i for i in given.get("indexes") or () if isinstance(i, int)
            and not isinstance(i, bool)]
