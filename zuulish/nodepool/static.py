"""The static provider: machines that are always there, reached over SSH.

Configured as nodepool's static driver is (``zuulish.yaml``)::

    nodepool:
      providers:
        - name: rack
          driver: static
          nodes:                      # or nodepool's pools: [{name, nodes}]
            - name: build1.example.org   # address or host name
              labels: [ubuntu-jammy]
              username: zuul          # default: zuul
              connection-port: 22
              host-key: ssh-ed25519 AAAA...   # optional, one or a list
              host-key-checking: true  # scan (and compare) keys before each use
              python-path: auto       # ansible_python_interpreter
              max-parallel-jobs: 1    # builds on the host at once
              timeout: 5              # seconds for the key scan

A host serves at most ``max-parallel-jobs`` nodes at once. Before a host is
handed out its SSH host keys are scanned (``ssh-keyscan``, at most once per
``SCAN_SECONDS``): a host that does not answer, or whose keys differ from the
configured ``host-key``, is not handed out, so requests for its labels wait for
another host. The scanned keys go to the build's ``known_hosts``:
the executor then connects with strict host key checking. With
``host-key-checking: false`` nothing is scanned and the build's SSH does not
check the host's key.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuulish.errors import ConfigError
from zuulish.nodepool.provider import LaunchedNode

log = logging.getLogger(__name__)

MAX_PARALLEL_SCANS = 16
SCAN_SECONDS = 10.0  # a host's scan (its keys, or that it did not answer) is kept this long
NODE_KEYS = frozenset({"name", "labels", "username", "connection-port", "connection-type",
                       "host-key", "host-key-checking", "python-path", "max-parallel-jobs",
                       "timeout"})


@dataclass(frozen=True)
class StaticHost:
    """One configured machine."""

    name: str
    labels: tuple[str, ...]
    username: str = "zuul"
    port: int = 22
    host_keys: tuple[str, ...] = ()
    host_key_checking: bool = True
    python_path: str = "auto"
    max_parallel_jobs: int = 1
    timeout: float = 5.0


def _fail(message: str, path: Path | None) -> ConfigError:
    return ConfigError(message, file=str(path) if path else None)


def _host(data: Any, where: str, path: Path | None) -> StaticHost:
    if not isinstance(data, dict):
        raise _fail(f"{where} must be a mapping, not {data!r}", path)
    unknown = sorted(set(data) - NODE_KEYS)
    if unknown:
        raise _fail(f"unknown key {where}.{unknown[0]}; allowed: "
                    f"{', '.join(sorted(NODE_KEYS))}", path)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(f"missing required key '{where}.name' (the host's address)", path)
    labels = data.get("labels", [])
    labels = [labels] if isinstance(labels, str) else labels
    if not isinstance(labels, list) or not labels or \
            not all(isinstance(x, str) for x in labels):
        raise _fail(f"key '{where}.labels' must be a label or a list of labels", path)
    if data.get("connection-type", "ssh") != "ssh":
        raise _fail(f"key '{where}.connection-type': only 'ssh' is supported, not "
                    f"{data['connection-type']!r}", path)
    keys = data.get("host-key", [])
    keys = [keys] if isinstance(keys, str) else keys
    if not isinstance(keys, list) or not all(isinstance(k, str) and len(k.split()) >= 2
                                             for k in keys):
        raise _fail(f"key '{where}.host-key' must be an SSH public host key "
                    "('TYPE BASE64') or a list of them", path)
    checks = {"username": str, "connection-port": int, "host-key-checking": bool,
              "python-path": str, "max-parallel-jobs": int, "timeout": (int, float)}
    for key, kind in checks.items():
        value = data.get(key)
        if value is not None and (not isinstance(value, kind) or
                                  (isinstance(value, bool) and kind is not bool)):
            raise _fail(f"key '{where}.{key}' has the wrong type: {value!r}", path)
    host = StaticHost(
        name=name, labels=tuple(labels), username=data.get("username", "zuul"),
        port=data.get("connection-port", 22),
        host_keys=tuple(" ".join(k.split()[:2]) for k in keys),
        host_key_checking=data.get("host-key-checking", True),
        python_path=data.get("python-path", "auto"),
        max_parallel_jobs=data.get("max-parallel-jobs", 1),
        timeout=float(data.get("timeout", 5.0)))
    if not 0 < host.port < 65536 or host.max_parallel_jobs < 1 or host.timeout <= 0:
        raise _fail(f"{where}: connection-port, max-parallel-jobs and timeout must be "
                    "positive (and the port below 65536)", path)
    return host


def parse_hosts(options: Mapping[str, Any], where: str,
                path: Path | None = None) -> list[StaticHost]:
    """The hosts of a static provider's options (``nodes``, or nodepool's ``pools``),
    validated; errors name the key and the file."""
    unknown = sorted(set(options) - {"nodes", "pools"})
    if unknown:
        raise _fail(f"unknown key {where}.{unknown[0]} for a static provider; "
                    "allowed: nodes, pools", path)
    entries: list[tuple[str, Any]] = []
    nodes = options.get("nodes", [])
    pools = options.get("pools", [])
    if not isinstance(nodes, list) or not isinstance(pools, list):
        raise _fail(f"keys '{where}.nodes' and '{where}.pools' must be lists", path)
    entries += [(f"{where}.nodes[{i}]", n) for i, n in enumerate(nodes)]
    for p, pool in enumerate(pools):
        if not isinstance(pool, dict) or not isinstance(pool.get("nodes", []), list):
            raise _fail(f"{where}.pools[{p}] must be a mapping with a list of nodes", path)
        entries += [(f"{where}.pools[{p}].nodes[{i}]", n)
                    for i, n in enumerate(pool.get("nodes", []))]
    if not entries:
        raise _fail(f"{where}: a static provider needs at least one node", path)
    hosts = [_host(data, at, path) for at, data in entries]
    seen: set[tuple[str, int]] = set()
    for host in hosts:
        if (host.name, host.port) in seen:
            raise _fail(f"{where}: host {host.name}:{host.port} is listed twice", path)
        seen.add((host.name, host.port))
    return hosts


def scan_host_keys(host: str, port: int, timeout: float) -> list[str]:
    """The host's SSH public keys as ``TYPE BASE64`` (``ssh-keyscan``); [] when it
    does not answer."""
    try:
        proc = subprocess.run(["ssh-keyscan", "-T", str(max(1, round(timeout))), "-p",
                               str(port), host], capture_output=True, text=True,
                              timeout=timeout + 5)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("ssh-keyscan of %s:%s failed: %s", host, port, exc)
        return []
    keys = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#"):
            keys.append(f"{parts[1]} {parts[2]}")
    return sorted(set(keys))


class StaticProvider:
    """Hands out configured hosts, each to at most ``max-parallel-jobs`` builds."""

    def __init__(self, name: str, hosts: list[StaticHost],
                 scan: Callable[[str, int, float], list[str]] = scan_host_keys,
                 monotonic: Callable[[], float] = time.monotonic):
        self.name = name
        self.hosts = hosts
        self.labels = tuple(sorted({label for h in hosts for label in h.labels}))
        self.max_nodes = sum(h.max_parallel_jobs for h in hosts)
        self._scan = scan
        self._now = monotonic
        # host name -> (when scanned, its keys; None: it failed the scan)
        self._scans: dict[str, tuple[float, list[str] | None]] = {}

    def refresh(self, labels: set[str]) -> None:
        """Scan the hosts with one of ``labels`` whose last scan is older than
        ``SCAN_SECONDS`` (the launcher calls this outside its transaction, so a
        host that does not answer holds up no other component). Hosts are scanned
        at once, so one that does not answer costs one ``timeout``, not one each."""
        now = self._now()
        due = [host for host in self.hosts if labels & set(host.labels) and not (
            host.name in self._scans and now - self._scans[host.name][0] < SCAN_SECONDS)]
        if not due:
            return
        with ThreadPoolExecutor(max_workers=min(len(due), MAX_PARALLEL_SCANS)) as pool:
            for host, keys in zip(due, pool.map(self._host_keys, due), strict=True):
                self._scans[host.name] = (now, keys)

    def launch(self, label: str, busy: Mapping[str, int]) -> LaunchedNode | None:
        """A free host with ``label`` that answered its last scan (least busy first);
        None if there is none."""
        candidates = sorted((h for h in self.hosts if label in h.labels and
                             busy.get(h.name, 0) < h.max_parallel_jobs),
                            key=lambda h: busy.get(h.name, 0))
        for host in candidates:
            scanned = self._scans.get(host.name)
            if scanned is None and not host.host_key_checking:
                scanned = (self._now(), [])
            if scanned is None or scanned[1] is None:
                continue
            return LaunchedNode(host.name, self._host_vars(host), list(scanned[1]))
        return None

    def _host_keys(self, host: StaticHost) -> list[str] | None:
        """The keys the build's SSH must see; None when the host fails its scan."""
        if not host.host_key_checking:
            return []
        scanned = self._scan(host.name, host.port, host.timeout)
        if not scanned:
            log.warning("static host %s:%s does not answer its SSH key scan; not used "
                        "until it does", host.name, host.port)
            return None
        if host.host_keys:
            if not set(host.host_keys) & set(scanned):
                log.error("static host %s:%s offers host keys that differ from its "
                          "configured host-key; not used", host.name, host.port)
                return None
            return list(host.host_keys)
        return scanned

    def _host_vars(self, host: StaticHost) -> dict[str, Any]:
        host_vars: dict[str, Any] = {"ansible_host": host.name, "ansible_port": host.port,
                                     "ansible_user": host.username}
        if host.python_path != "auto":
            host_vars["ansible_python_interpreter"] = host.python_path
        if not host.host_key_checking:
            host_vars["ansible_host_key_checking"] = False
        return host_vars

    def release(self, hostname: str, host_vars: dict[str, Any]) -> None:
        """Nothing to tear down: the host serves the next build as it is (as with
        nodepool's static driver, jobs must leave it usable). Its scan is forgotten,
        so it is looked at again before its next build (it may have gone away)."""
        self._scans.pop(hostname, None)
