"""A cloud provider kept in memory, for the launcher's own tests and benchmark.

It keeps the ``CloudProvider`` contract (zuulish/nodepool/cloud.py) and lets a
test decide how each boot goes: how many looks it takes to be ready, whether it
fails (and with what reason), whether create is refused (quota, a permanent
error) and whether SSH answers. Thread safe, like a real provider must be.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from zuulish.nodepool.cloud import (
    ErrorKind,
    Instance,
    InstanceState,
    LabelOffer,
    ProviderError,
)
from zuulish.nodepool.resources import Limits, Resources


@dataclass
class Boot:
    """How the next boots go (each field consumed per boot where it is a list)."""

    looks: int = 1                   # status calls before READY
    outcome: str = "ready"           # ready | error | stuck | vanish
    reason: str = "No valid host was found."
    kind: ErrorKind | None = None    # how the cloud's failure is to be taken


@dataclass
class FakeInstance:
    id: str
    label: str
    tags: dict[str, str]
    boot: Boot
    looks: int = 0
    deleted: bool = False


@dataclass
class MemoryCloud:
    name: str = "memory"
    labels: Mapping[str, LabelOffer] = field(default_factory=lambda: {
        "small": LabelOffer("small", Resources(instances=1, cores=2, ram_mb=2048))})
    limits: Limits = field(default_factory=Limits)
    cloud_quota: Limits = field(default_factory=Limits)
    launch_timeout: float = 600.0
    boot_timeout: float = 120.0
    launch_attempts: int = 3
    host_key_checking: bool = True

    def __post_init__(self) -> None:
        self.offers = dict(self.labels)
        self.instances_by_id: dict[str, FakeInstance] = {}
        self.plans: list[Boot] = []           # the next boots, in order
        self.default = Boot()
        self.refuse: list[ProviderError] = []  # the next creates raise these
        self.calls: list[tuple[str, str]] = []
        self.down: ProviderError | None = None  # every call raises this
        self.refreshed = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # the contract
    def refresh(self) -> None:
        self._check("refresh", "")
        self.refreshed += 1

    def quota(self) -> Limits:
        self._check("quota", "")
        return self.cloud_quota

    def create(self, label: str, tags: Mapping[str, str]) -> str:
        self._check("create", label)
        with self._lock:
            if self.refuse:
                raise self.refuse.pop(0)
            if label not in self.offers:
                raise ProviderError(f"flavor for label {label!r} not found",
                                    ErrorKind.PERMANENT)
            boot = self.plans.pop(0) if self.plans else self.default
            instance = FakeInstance(f"i-{next(self._ids):04d}", label, dict(tags), boot)
            self.instances_by_id[instance.id] = instance
            return instance.id

    def status(self, external_id: str) -> Instance:
        self._check("status", external_id)
        with self._lock:
            inst = self.instances_by_id.get(external_id)
            if inst is None or inst.deleted:
                return Instance(external_id, InstanceState.GONE)
            inst.looks += 1
            boot = inst.boot
            if boot.outcome == "vanish":
                inst.deleted = True
                return Instance(external_id, InstanceState.GONE)
            if boot.outcome == "error" and inst.looks >= boot.looks:
                return Instance(external_id, InstanceState.FAILED, inst.tags,
                                reason=boot.reason, error_kind=boot.kind)
            if boot.outcome == "stuck" or inst.looks < boot.looks:
                return Instance(external_id, InstanceState.BUILDING, inst.tags)
            return Instance(external_id, InstanceState.READY, inst.tags,
                            hostname=f"10.0.0.{int(inst.id[2:]) % 250 + 1}", port=22,
                            host_vars={"ansible_user": "zuul"})

    def delete(self, external_id: str) -> None:
        self._check("delete", external_id)
        with self._lock:
            inst = self.instances_by_id.get(external_id)
            if inst is not None:
                inst.deleted = True

    def instances(self) -> list[Instance]:
        self._check("instances", "")
        with self._lock:
            return [Instance(i.id, InstanceState.BUILDING, dict(i.tags))
                    for i in self.instances_by_id.values() if not i.deleted]

    # for tests
    def alive(self) -> list[FakeInstance]:
        with self._lock:
            return [i for i in self.instances_by_id.values() if not i.deleted]

    def plant(self, label: str, tags: Mapping[str, str]) -> str:
        """An instance made behind the launcher's back (or before its crash)."""
        with self._lock:
            instance = FakeInstance(f"i-{next(self._ids):04d}", label, dict(tags), Boot())
            self.instances_by_id[instance.id] = instance
            return instance.id

    def _check(self, call: str, arg: str) -> None:
        with self._lock:
            self.calls.append((call, arg))
            if self.down is not None:
                raise self.down
