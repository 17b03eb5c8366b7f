"""What the launcher needs of a provider that boots nodes on demand (openstack,
aws, podman): start an instance, look at it, delete it, and list every instance
zuulish tagged, so none is ever lost track of.

A driver's ``make(spec, system_id)`` (see ``drivers``) builds the provider without
calling the cloud; ``offers`` names its labels from then on. Every call is short:
``create`` starts a boot and returns the cloud's id at once; the launcher polls
``status`` until the instance is ready (or failed, or past its ``launch-timeout``),
then checks that SSH answers within ``boot-timeout``. The launcher calls providers
outside its store transactions, from worker threads, so a provider must be safe to
call from several threads at once.

Each instance carries ``tags`` (metadata, labels: whatever the cloud calls them)
that say whose it is: ``TAG_SYSTEM`` (this zuulish installation), ``TAG_PROVIDER``,
``TAG_NODE`` (the node's id in the store) and ``TAG_REQUEST``. ``instances()``
returns every instance with ``TAG_SYSTEM`` and its tags as the cloud has them;
the launcher compares them with the store to find leaks.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from zuulish.nodepool.resources import Limits, Resources

TAG_SYSTEM = "zuulish-system"
TAG_PROVIDER = "zuulish-provider"
TAG_NODE = "zuulish-node"
TAG_REQUEST = "zuulish-request"


class InstanceState(enum.StrEnum):
    BUILDING = "building"  # the cloud is making it
    READY = "ready"        # the cloud says it runs (SSH is checked by the launcher)
    FAILED = "failed"      # the cloud gave up on it (``reason`` says why)
    GONE = "gone"          # deleted, or never there


@dataclass(frozen=True)
class Instance:
    """A provider's view of one instance.

    ``hostname`` and ``port`` are where SSH reaches it (set once it is ready);
    ``host_vars`` are its Ansible connection variables (``ansible_host``,
    ``ansible_port``, ``ansible_user``, ``ansible_python_interpreter``...);
    ``host_keys`` are SSH host keys the cloud vouches for (``TYPE BASE64``; empty:
    the launcher scans them). ``error_kind`` says how to take a FAILED instance
    when the cloud tells (``QUOTA``: it failed for want of capacity or quota, as an
    over-quota create would; None: not known)."""

    external_id: str
    state: InstanceState
    tags: Mapping[str, str] = field(default_factory=dict)
    hostname: str = ""
    port: int = 22
    host_vars: Mapping[str, Any] = field(default_factory=dict)
    host_keys: tuple[str, ...] = ()
    reason: str | None = None
    error_kind: ErrorKind | None = None


class ErrorKind(enum.StrEnum):
    QUOTA = "quota"          # over the cloud's quota now: try another provider or wait
    TRANSIENT = "transient"  # a 500, a timeout, a lost connection: try again later
    PERMANENT = "permanent"  # wrong credentials, unknown flavor or image: will not work


class ProviderError(Exception):
    """A provider call failed; ``str(error)`` is the cloud's reason, for users."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.TRANSIENT):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class LabelOffer:
    """A label as one provider makes it: what one node costs there, the GPU model
    (None: no GPU), and how many ready nodes to keep warm (``min-ready``).
    ``baremetal`` names the bare metal resource class a node is (OpenStack Ironic's
    ``CUSTOM_BAREMETAL_GPU``; None: a virtual machine or not known). ``error`` says
    why the label cannot be booted there (its flavor or image does not exist in the
    cloud: ``refresh`` found out), while the provider's other labels can."""

    label: str
    resources: Resources = Resources(instances=1)
    gpu_model: str | None = None
    min_ready: int = 0
    baremetal: str | None = None
    error: str | None = None


class CloudProvider(Protocol):
    """A provider that boots nodes (see the module)."""

    name: str
    offers: Mapping[str, LabelOffer]
    limits: Limits           # the configured limits (``resource-limits``, ``max-servers``)
    launch_timeout: float    # seconds from create to the cloud saying it is ready
    boot_timeout: float      # seconds from ready to SSH answering
    launch_attempts: int     # boots tried for one node before the request fails
    host_key_checking: bool  # scan (and pin) the node's SSH host keys before use

    def refresh(self) -> None:
        """Look up what the configuration names in the cloud (flavors, images,
        instance types) and fill in ``offers``' resources and GPU models from them
        (an offer whose flavor or image is missing gets its ``error``).
        Called by the launcher outside its transactions, before the provider's first
        use and now and then after; until it succeeds, each offer costs only one
        instance. Raises ProviderError (``PERMANENT``, naming it, when a flavor or
        image does not exist)."""

    def quota(self) -> Limits:
        """The cloud's own limits for this account (``Limits()``: none known).
        May raise ProviderError."""

    def create(self, label: str, tags: Mapping[str, str]) -> str:
        """Start booting a node with ``label``, tagged with ``tags``; its external id.
        Raises ProviderError (``QUOTA`` when the cloud refuses for quota)."""

    def status(self, external_id: str) -> Instance:
        """The instance as the cloud sees it now (``GONE`` when it does not know it).
        Raises ProviderError when the cloud cannot be asked."""

    def delete(self, external_id: str) -> None:
        """Start deleting the instance (and what was made for it: floating IPs,
        volumes); an instance already gone is not an error. Raises ProviderError."""

    def instances(self) -> list[Instance]:
        """Every instance tagged ``TAG_SYSTEM`` (whatever its value), with its tags.
        Raises ProviderError."""


@dataclass(frozen=True)
class ProviderSpec:
    """A provider's configuration, resolved (Zuul's ``provider`` with its
    ``section`` chain, or a provider of ``zuulish.yaml``): what a driver's factory
    gets.

    ``connection`` is the options of the connection it names in ``zuulish.yaml``
    (credentials, endpoints); ``attributes`` the provider's own, merged down its
    sections (``region``, ``launch-timeout``, ``boot-timeout``, driver options);
    ``labels`` each label it offers, resolved."""

    name: str
    driver: str
    connection: Mapping[str, Any]
    attributes: Mapping[str, Any]
    labels: Mapping[str, LabelSpec]
    source_file: str | None = None
    source_line: int | None = None


@dataclass(frozen=True)
class LabelSpec:
    """One label of a provider: the ``label`` object's attributes and the provider's
    own for it (``attributes``), and its image's and flavor's attributes as the
    provider's sections define them (``image``, ``flavor``; each has its ``name``)."""

    name: str
    attributes: Mapping[str, Any]
    image: Mapping[str, Any]
    flavor: Mapping[str, Any]
    min_ready: int = 0
