"""What the fake OpenStack cloud holds: identities, tokens, flavors, images, networks,
servers, key pairs, floating IPs and quotas, and the records of the calls it received.

Objects are plain dataclasses; the services in :mod:`tests.fakes.openstack.keystone`,
``nova``, ``glance`` and ``neutron`` turn them into their APIs' JSON shapes.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


def new_id() -> str:
    return str(uuid.uuid4())


def iso(at: float, micro: bool = False) -> str:
    """``2026-12-05T22:19:38Z`` (Nova, Neutron, Glance) or with microseconds
    (``...38.000000Z``, Keystone's ``expires_at``)."""
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
    if micro:
        return f"{base}.{int((at % 1) * 1_000_000):06d}Z"
    return base + "Z"


@dataclass
class Domain:
    id: str
    name: str


@dataclass
class Project:
    id: str
    name: str
    domain: Domain


@dataclass
class User:
    id: str
    name: str
    password: str
    domain: Domain
    roles: list[str] = field(default_factory=lambda: ["member", "reader"])


@dataclass
class AppCredential:
    """An application credential: it carries its own project scope."""

    id: str
    name: str
    secret: str
    user: User
    project: Project


@dataclass
class Token:
    value: str
    user: User
    project: Project | None
    methods: list[str]
    issued_at: float
    expires_at: float
    audit_id: str = field(default_factory=lambda: secrets.token_urlsafe(16)[:22])


@dataclass
class Flavor:
    id: str
    name: str
    vcpus: int
    ram: int  # MiB
    disk: int  # GiB
    ephemeral: int = 0
    swap: int = 0
    is_public: bool = True
    disabled: bool = False
    description: str | None = None
    extra_specs: dict[str, str] = field(default_factory=dict)
    projects: list[str] = field(default_factory=list)  # flavor access of a private one


@dataclass
class Image:
    id: str
    name: str
    status: str = "active"
    visibility: str = "public"
    disk_format: str = "qcow2"
    container_format: str = "bare"
    size: int = 1_073_741_824
    min_disk: int = 0
    min_ram: int = 0
    owner: str = ""
    created_at: float = field(default_factory=time.time)
    tags: list[str] = field(default_factory=list)
    #: additional properties (``hw_*``, ``os_distro``...): flat in Glance's JSON
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class Subnet:
    id: str
    name: str
    network_id: str
    cidr: str  # "10.0.0.0/24"
    gateway_ip: str
    ip_version: int = 4
    next_host: int = 10  # the host part handed out next


@dataclass
class Network:
    id: str
    name: str
    project_id: str
    external: bool = False
    shared: bool = False
    mtu: int = 1450
    subnets: list[Subnet] = field(default_factory=list)


@dataclass
class Port:
    id: str
    network_id: str
    project_id: str
    mac_address: str
    fixed_ips: list[dict[str, str]]  # [{"subnet_id": ..., "ip_address": ...}]
    device_id: str = ""
    device_owner: str = ""
    name: str = ""
    status: str = "DOWN"


@dataclass
class FloatingIP:
    id: str
    address: str
    network_id: str
    project_id: str
    port_id: str | None = None
    fixed_ip_address: str | None = None
    description: str = ""
    created_at: float = field(default_factory=time.time)


@dataclass
class Keypair:
    name: str
    public_key: str
    fingerprint: str
    user_id: str
    type: str = "ssh"
    created_at: float = field(default_factory=time.time)
    id: int = 0


def fingerprint(public_key: str) -> str:
    """Nova's fingerprint of an OpenSSH public key: the MD5 of its blob, colon-hex."""
    import base64
    try:
        blob = base64.b64decode(public_key.split()[1])
    except (IndexError, ValueError):
        blob = public_key.encode()
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


@dataclass
class Behaviour:
    """How a server built by the fake behaves.

    ``outcome``: "active" (BUILD, then ACTIVE), "error" (BUILD, then ERROR with ``fault``)
    or "stuck" (BUILD for ever). The change happens at the ``build_polls``-th read of the
    server (a GET of it or a detailed list holding it) or ``build_seconds`` after its
    creation, whichever comes first (None: that trigger is off). ``delete_failures``:
    that many DELETEs are accepted (204) but leave the server in ERROR with a fault, as a
    compute host that could not tear it down does; the next one deletes it.
    """

    outcome: str = "active"
    build_polls: int | None = 2
    build_seconds: float | None = None
    fault: str = "No valid host was found. There are not enough hosts available."
    fault_code: int = 500
    delete_failures: int = 0
    #: reads a deleted server still answers (status ACTIVE, task_state "deleting")
    delete_polls: int = 0


@dataclass
class Server:
    id: str
    name: str
    project_id: str
    user_id: str
    flavor: Flavor
    image_id: str  # "" when booted from a volume
    key_name: str | None
    metadata: dict[str, str]
    tags: list[str]
    security_groups: list[str]
    ports: list[Port]
    volumes: list[dict[str, Any]]  # [{"id": ..., "delete_on_termination": bool}]
    behaviour: Behaviour
    created_at: float
    availability_zone: str = "nova"
    description: str | None = None
    status: str = "BUILD"
    task_state: str | None = "spawning"
    vm_state: str = "building"
    power_state: int = 0
    updated_at: float = 0.0
    launched_at: float | None = None
    fault: dict[str, Any] | None = None
    polls: int = 0
    deleting: bool = False
    delete_polls_left: int = 0
    admin_pass: str = field(default_factory=lambda: secrets.token_urlsafe(9))

    def advance(self, now: float, read: bool) -> None:
        """Move BUILD on as the behaviour says (``read``: this is a client's look)."""
        if read:
            self.polls += 1
        if self.status != "BUILD" or self.behaviour.outcome == "stuck":
            return
        b = self.behaviour
        due = ((b.build_polls is not None and self.polls >= b.build_polls)
               or (b.build_seconds is not None and now - self.created_at >= b.build_seconds))
        if not due:
            return
        self.updated_at = now
        self.task_state = None
        if b.outcome == "error":
            self.set_error(b.fault, now, b.fault_code)
        else:
            self.status, self.vm_state, self.power_state = "ACTIVE", "active", 1
            self.launched_at = now

    def set_error(self, message: str, now: float, code: int = 500) -> None:
        self.status, self.vm_state, self.power_state, self.task_state = "ERROR", "error", 0, None
        self.updated_at = now
        self.fault = {"code": code, "created": iso(now), "message": message,
                      "details": f"{message}\n  File \"nova/conductor/manager.py\", in build"}


@dataclass
class Quota:
    """Nova's per-project quota (-1: unlimited)."""

    instances: int = 10
    cores: int = 20
    ram: int = 51200
    key_pairs: int = 100
    metadata_items: int = 128
    server_groups: int = 10
    server_group_members: int = 10
    floating_ips: int = 50


@dataclass
class Call:
    """One request the fake received (the token is not kept)."""

    method: str
    path: str  # as sent, without the query
    query: dict[str, list[str]]
    body: Any  # its JSON, or None
    service: str = ""  # identity | compute | image | network | ""
    status: int = 0
    microversion: str | None = None  # the compute microversion it asked for
    at: float = field(default_factory=time.monotonic)  # when it came (monotonic clock)


@dataclass
class Fault:
    """An injected failure: calls matching ``method`` and ``path`` (a regular expression
    searched in the path) answer ``status`` after ``delay`` seconds; ``times`` calls, or
    every call when None. ``status`` 0: only the delay, then the normal answer."""

    method: str
    path: str
    status: int = 500
    delay: float = 0.0
    times: int | None = 1
