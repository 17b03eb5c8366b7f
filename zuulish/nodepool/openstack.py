"""The openstack provider: Nova servers from a Glance image and a flavor, through
the unmodified openstacksdk.

The connection (``zuulish.yaml``) names a cloud of ``clouds.yaml`` as Zuul's
does, or gives the credentials itself::

    connections:
      vexxhost:
        driver: openstack
        cloud: vexxhost            # a clouds.yaml entry (client_config_file: its file)
        region-name: ca-ymq-1      # or: auth-url, username, password, project-name,
        api-timeout: 60            #     user-domain-name, project-domain-name

A provider's attributes (merged down its sections, Zuul 14 style), each of them
also allowed on a label entry (which wins), and ``public-ipv4``, ``volume-size``,
``boot-from-volume`` and ``userdata`` on flavor and image entries too:

- ``networks`` (names or ids), ``key-name``, ``security-groups``, ``az``,
  ``userdata``, ``config-drive``;
- ``boot-from-volume`` with ``volume-size`` (GiB; default the flavor's disk): the
  server boots from a volume made from the image, deleted with the server;
- ``public-ipv4``: the node is reached on a public IPv4 address: the cloud's own if
  it gives one, else a floating IP made from ``floating-network`` (default: the
  only external network) once the server is ACTIVE; ``floating-ip: true`` makes
  one for every server the cloud gives no public IPv4 (``public-ipv4`` or not),
  ``false`` never makes one. zuulish's floating IPs carry the
  description ``zuulish <system> server <id>``: ``delete`` removes them, and
  ``instances()`` removes any left unattached (``floating-ip-cleanup: true``:
  every unattached floating IP of the project, as Zuul's option does);
- ``address-preference``: the order addresses are chosen in (default
  ``[public-ipv4, private-ipv4, public-ipv6, private-ipv6]``).

Image entries have ``image-id`` or ``image-name`` (default: the entry's
``name``), ``username``, ``python-path``, ``connection-port``; flavor entries have
``flavor-name`` (a name or an id; default: the entry's ``name``). GPUs and bare
metal come from the flavor's extra specs (see ``openstack_flavors``); a label may
say ``gpus`` and ``gpu-model``.

Servers carry the caller's tags as Nova metadata (and ``zuulish-label``). A server
in ERROR is FAILED with Nova's fault message, its ``error_kind`` QUOTA when the
fault says the cloud had no room (quota, "No valid host was found"). Errors map
to ErrorKind by ``classify``.

One openstacksdk Connection serves every thread of a provider: keystoneauth
renews its token under a lock, and the connection authenticates and discovers the
services once, under the provider's lock, before threads share it.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from zuulish.nodepool import openstack_config as cfg
from zuulish.nodepool.cloud import (
    TAG_NODE,
    TAG_SYSTEM,
    ErrorKind,
    Instance,
    InstanceState,
    LabelOffer,
    ProviderError,
    ProviderSpec,
)
from zuulish.nodepool.drivers import CloudDriver
from zuulish.nodepool.openstack_flavors import BadExtraSpec, hardware
from zuulish.nodepool.resources import Limits, Resources

log = logging.getLogger(__name__)

TAG_LABEL = "zuulish-label"
METADATA_MAX = 255  # Nova's limit on a metadata key and on a value
# a server's fault that says the cloud had no room for it (Nova's scheduler and quota)
_CAPACITY = re.compile(r"quota|no valid host|not enough hosts|insufficient|exhausted all "
                       r"hosts|exceeds? .*limit|over ?limit|capacity", re.IGNORECASE)
_BUILDING = {"BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "VERIFY_RESIZE",
             "REVERT_RESIZE", "MIGRATING", "PASSWORD", "UNKNOWN"}
_GONE = {"DELETED", "SOFT_DELETED"}


# -- errors ------------------------------------------------------------------------------


def _details(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    text = str(details).strip() if details else ""
    return text or str(exc).strip() or type(exc).__name__


def classify(exc: BaseException) -> ErrorKind:
    """The ErrorKind of an openstacksdk or keystoneauth exception."""
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as sdk

    if isinstance(exc, ksa.Unauthorized | ksa.AuthorizationFailure | ksa.MissingRequiredOptions
                  | ksa.EndpointNotFound | ksa.NoMatchingPlugin | sdk.ConfigException):
        return ErrorKind.PERMANENT
    if isinstance(exc, ksa.ConnectionError | ksa.RetriableConnectionFailure):
        return ErrorKind.TRANSIENT  # ConnectTimeout, ConnectFailure, SSL errors...
    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    if isinstance(exc, ksa.HttpError | sdk.HttpException) and status:
        text = _details(exc)
        if status in (403, 409, 413) and _CAPACITY.search(text):
            return ErrorKind.QUOTA  # Nova 403, Neutron 409 OverQuota, old Nova 413
        if status >= 500 or status in (408, 429):
            return ErrorKind.TRANSIENT
        return ErrorKind.PERMANENT
    if isinstance(exc, sdk.ResourceNotFound | sdk.DuplicateResource | sdk.InvalidRequest):
        return ErrorKind.PERMANENT
    return ErrorKind.TRANSIENT


def _raise(exc: BaseException, doing: str) -> NoReturn:
    if isinstance(exc, ProviderError):
        raise exc
    kind = classify(exc)
    from keystoneauth1 import exceptions as ksa
    if isinstance(exc, ksa.Unauthorized):
        doing += ": authentication failed"
    raise ProviderError(f"{doing}: {_details(exc)}", kind) from exc


def _is_not_found(exc: BaseException) -> bool:
    from openstack import exceptions as sdk
    return isinstance(exc, sdk.NotFoundException | sdk.ResourceNotFound)


# -- configuration -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Resolved:
    """What ``refresh`` found for a label in the cloud."""

    flavor_id: str
    image_id: str
    disk: int
    resources: Resources
    gpu_model: str | None
    baremetal: str | None


@dataclass
class _Cloud:
    """The cloud's networks by name and id: (id, external)."""

    networks: dict[str, tuple[str, bool]] = field(default_factory=dict)
    external_names: set[str] = field(default_factory=set)


# -- the provider --------------------------------------------------------------------------


class OpenStackProvider:
    """Nova servers for labels (see the module)."""

    def __init__(self, spec: ProviderSpec, system_id: str):
        self.name = spec.name
        self.system_id = system_id
        self.spec = spec
        settings = cfg.settings(spec)
        self.launch_timeout = settings.launch_timeout
        self.boot_timeout = settings.boot_timeout
        self.launch_attempts = settings.launch_attempts
        self.host_key_checking = settings.host_key_checking
        self.limits = settings.limits
        self.floating_ip_cleanup = settings.floating_ip_cleanup
        self.floating_network = settings.floating_network
        self.plans = {name: cfg.plan(spec, label) for name, label in spec.labels.items()}
        self.offers: Mapping[str, LabelOffer] = {
            name: LabelOffer(name, min_ready=label.min_ready)
            for name, label in spec.labels.items()}
        self._args = cfg.connection_args(spec)
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._conn: Any = None
        self._resolved: Mapping[str, _Resolved] = {}
        self._cloud: _Cloud | None = None
        self._fip_locks: dict[str, threading.Lock] = {}

    # -- the connection ------------------------------------------------------------------

    def _open(self) -> Any:
        import openstack
        from openstack import config as os_config
        args = dict(self._args)
        rate = args.pop("rate_limit", None)
        config_files = args.pop("config_files", None)
        if config_files:  # the named cloud of that file, with the connection's options
            loader = os_config.OpenStackConfig(config_files=config_files)
        elif "cloud" in args:  # clouds.yaml where openstacksdk looks for it
            loader = os_config.OpenStackConfig()
        else:  # the connection's own credentials, no file, no OS_* variables
            loader = os_config.OpenStackConfig(load_yaml_config=False, load_envvars=False)
        region = loader.get_one(**args)
        if rate is not None:
            # set after loading: openstacksdk 4's loader turns a rate given as an
            # argument into a string, which its adapters then cannot divide by
            region.config["rate_limit"] = dict.fromkeys(("compute", "network", "image"),
                                                        float(rate))
        return openstack.connection.Connection(config=region)

    @property
    def conn(self) -> Any:
        """The provider's Connection, made (and its services discovered) once."""
        conn = self._conn
        if conn is not None:
            return conn
        with self._lock:
            if self._conn is None:
                try:
                    made = self._open()
                    # authenticate and discover the services (versions, microversions)
                    # once, before threads share the connection: else each thread's
                    # first call would do it again, racing the others
                    for service in (made.compute, made.network, made.image):
                        service.get_endpoint_data()
                except Exception as exc:
                    _raise(exc, f"connecting to OpenStack for provider {self.name!r}")
                self._conn = made
            return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _call(self, doing: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            _raise(exc, doing)

    # -- looking things up -----------------------------------------------------------------

    def _networks(self, refresh: bool = False) -> _Cloud:
        cloud = self._cloud
        if cloud is not None and not refresh:
            return cloud
        found = _Cloud()
        nets = self._call("listing networks", lambda: list(self.conn.network.networks()))
        for net in nets:
            entry = (net.id, bool(net.is_router_external))
            found.networks[net.id] = entry
            if net.name:
                found.networks.setdefault(net.name, entry)
                if entry[1]:
                    found.external_names.add(net.name)
        self._cloud = found
        return found

    def refresh(self) -> None:
        conn = self.conn
        flavors = self._call("listing flavors", lambda: list(conn.compute.flavors(
            details=True)))
        by_id = {f.id: f for f in flavors}
        by_name: dict[str, Any] = {}
        for f in flavors:
            by_name.setdefault(f.name, f)
        cloud = self._networks(refresh=True)
        images: dict[tuple[str, str], str] = {}
        resolved: dict[str, _Resolved] = {}
        offers: dict[str, LabelOffer] = {}
        for name, plan in self.plans.items():
            try:
                resolved[name], offers[name] = self._resolve_label(
                    name, plan, by_id, by_name, cloud, images)
            except ProviderError as exc:
                if exc.kind != ErrorKind.PERMANENT:
                    raise
                offers[name] = replace(self.offers[name], error=str(exc))
        self._resolved = resolved
        self.offers = offers

    def _resolve_label(self, name: str, plan: Any, by_id: dict[str, Any],
                       by_name: dict[str, Any], cloud: Any,
                       images: dict[tuple[str, str], str]) -> tuple[_Resolved, LabelOffer]:
        """What the cloud has for one label; ProviderError (PERMANENT) naming what
        it lacks."""
        flavor = by_id.get(plan.flavor) or by_name.get(plan.flavor)
        if flavor is None:
            raise ProviderError(f"provider {self.name!r}, label {name!r}: flavor "
                                f"{plan.flavor!r} does not exist in the cloud",
                                ErrorKind.PERMANENT)
        key = ("id", plan.image_id) if plan.image_id else ("name", plan.image_name or "")
        if key not in images:
            images[key] = self._image(name, *key)
        for net in plan.networks:
            if net not in cloud.networks:
                raise ProviderError(f"provider {self.name!r}, label {name!r}: network "
                                    f"{net!r} does not exist in the cloud",
                                    ErrorKind.PERMANENT)
        try:
            hw = hardware(flavor.extra_specs or {}, gpus=plan.gpus,
                          gpu_model=plan.gpu_model)
        except BadExtraSpec as exc:
            raise ProviderError(f"provider {self.name!r}, label {name!r}: flavor "
                                f"{flavor.name!r}: {exc}", ErrorKind.PERMANENT) from None
        if plan.boot_from_volume and not (plan.volume_size or flavor.disk):
            raise ProviderError(f"provider {self.name!r}, label {name!r}: "
                                "boot-from-volume needs 'volume-size' (flavor "
                                f"{flavor.name!r} has no disk)", ErrorKind.PERMANENT)
        resources = Resources(instances=1, cores=int(flavor.vcpus or 0),
                              ram_mb=int(flavor.ram or 0), gpus=hw.gpus)
        return (_Resolved(flavor.id, images[key], int(flavor.disk or 0), resources,
                          hw.gpu_model, hw.baremetal),
                LabelOffer(name, resources, hw.gpu_model, self.offers[name].min_ready,
                           hw.baremetal))

    def _image(self, label: str, by: str, value: str) -> str:
        conn = self.conn
        if by == "id":
            try:
                return str(conn.image.get_image(value).id)
            except Exception as exc:
                if _is_not_found(exc):
                    raise ProviderError(f"provider {self.name!r}, label {label!r}: image id "
                                        f"{value!r} does not exist in the cloud",
                                        ErrorKind.PERMANENT) from None
                _raise(exc, f"looking up image {value!r}")
        found = self._call(f"looking up image {value!r}",
                           lambda: list(conn.image.images(name=value)))
        active = [i for i in found if i.status == "active"]
        if not active:
            state = f" (it is {found[0].status})" if found else ""
            raise ProviderError(f"provider {self.name!r}, label {label!r}: image {value!r} "
                                f"does not exist in the cloud{state}", ErrorKind.PERMANENT)
        newest = max(active, key=lambda i: i.created_at or "")
        return str(newest.id)

    def _resolve(self, label: str) -> _Resolved:
        if label not in self.plans:
            raise ProviderError(f"provider {self.name!r} has no label {label!r}",
                                ErrorKind.PERMANENT)
        if label not in self._resolved:
            with self._refresh_lock:  # threads creating at once: one refresh
                if label not in self._resolved:
                    self.refresh()
        if label not in self._resolved:
            raise ProviderError(self.offers[label].error or f"label {label!r} cannot be "
                                "booted here", ErrorKind.PERMANENT)
        return self._resolved[label]

    # -- the interface -----------------------------------------------------------------------

    def quota(self) -> Limits:
        limits = self._call("reading compute limits", self.conn.compute.get_limits)
        absolute = limits.absolute

        def limit(value: Any) -> int | None:
            return None if value is None or int(value) < 0 else int(value)
        return Limits(instances=limit(absolute.instances), cores=limit(absolute.total_cores),
                      ram_mb=limit(absolute.total_ram))

    def create(self, label: str, tags: Mapping[str, str]) -> str:
        plan = self.plans.get(label)
        if plan is None:
            raise ProviderError(f"provider {self.name!r} has no label {label!r}",
                                ErrorKind.PERMANENT)
        found = self._resolve(label)
        metadata = _metadata({**tags, TAG_LABEL: label})
        node = tags.get(TAG_NODE) or uuid.uuid4().hex[:12]
        attrs: dict[str, Any] = {
            "name": _server_name(f"zuulish-{self.name}-{label}-{node}"),
            "flavor_id": found.flavor_id, "metadata": metadata}
        if plan.boot_from_volume:
            attrs["block_device_mapping"] = [{
                "boot_index": 0, "uuid": found.image_id, "source_type": "image",
                "destination_type": "volume", "delete_on_termination": True,
                "volume_size": plan.volume_size or found.disk}]
        else:
            attrs["image_id"] = found.image_id
        if plan.networks:
            cloud = self._networks()
            attrs["networks"] = [{"uuid": cloud.networks[n][0]} for n in plan.networks]
        if plan.key_name:
            attrs["key_name"] = plan.key_name
        if plan.security_groups:
            attrs["security_groups"] = [{"name": g} for g in plan.security_groups]
        if plan.az:
            attrs["availability_zone"] = plan.az
        if plan.userdata:
            attrs["user_data"] = base64.b64encode(plan.userdata.encode()).decode()
        if plan.config_drive is not None:
            attrs["config_drive"] = plan.config_drive
        server = self._call(f"creating a server for label {label!r}",
                            self.conn.compute.create_server, **attrs)
        return str(server.id)

    def status(self, external_id: str) -> Instance:
        try:
            server = self.conn.compute.get_server(external_id)
        except Exception as exc:
            if _is_not_found(exc):
                return Instance(external_id, InstanceState.GONE)
            _raise(exc, f"reading server {external_id}")
        return self._instance(server, make_floating_ip=True)

    def delete(self, external_id: str) -> None:
        conn = self.conn
        for fip in self._call("listing floating IPs", lambda: list(
                conn.network.ips(description=self._fip_description(external_id)))):
            self._call(f"deleting floating IP {fip.floating_ip_address}",
                       conn.network.delete_ip, fip, ignore_missing=True)
        self._call(f"deleting server {external_id}", conn.compute.delete_server,
                   external_id, ignore_missing=True)
        with self._lock:
            self._fip_locks.pop(external_id, None)

    def instances(self) -> list[Instance]:
        servers = self._call("listing servers",
                             lambda: list(self.conn.compute.servers(details=True)))
        found = [self._instance(s, make_floating_ip=False) for s in servers
                 if TAG_SYSTEM in (s.metadata or {})]
        self._cleanup_floating_ips()
        return found

    # -- servers -------------------------------------------------------------------------------

    def _instance(self, server: Any, make_floating_ip: bool) -> Instance:
        tags = {str(k): str(v) for k, v in (server.metadata or {}).items()}
        sid = str(server.id)
        state = (server.status or "").upper()
        task = server.task_state or ""
        if state in _GONE:
            return Instance(sid, InstanceState.GONE, tags)
        if task == "deleting":
            return Instance(sid, InstanceState.FAILED, tags, reason="being deleted")
        if state == "ERROR":
            fault = server.fault or {}
            reason = str(fault.get("message") or "the server went to ERROR (no fault given)")
            kind = ErrorKind.QUOTA if _CAPACITY.search(reason) else ErrorKind.TRANSIENT
            return Instance(sid, InstanceState.FAILED, tags, reason=reason, error_kind=kind)
        if state in _BUILDING or (state == "ACTIVE" and task):
            return Instance(sid, InstanceState.BUILDING, tags)
        if state != "ACTIVE":
            return Instance(sid, InstanceState.FAILED, tags,
                            reason=f"the server is {state or 'without a status'}")
        plan = self.plans.get(tags.get(TAG_LABEL, ""))
        if plan is None:  # not a label of ours (any more): report it, reach it nowhere
            return Instance(sid, InstanceState.READY, tags)
        addresses = self._addresses(server)
        if make_floating_ip and plan.floating_ip != "never" and (
                plan.floating_ip == "always" or plan.public_ipv4) \
                and not addresses["public-ipv4"]:
            try:
                addresses["public-ipv4"].insert(0, self._floating_ip(sid))
            except ProviderError as exc:
                if exc.kind == ErrorKind.TRANSIENT:
                    raise
                return Instance(sid, InstanceState.FAILED, tags, reason=str(exc),
                                error_kind=exc.kind)
        host = next((addresses[k][0] for k in plan.address_preference if addresses[k]), "")
        if not host:
            return Instance(sid, InstanceState.FAILED, tags,
                            reason="the server is ACTIVE but has no address zuulish may use "
                                   f"({', '.join(plan.address_preference)})")
        host_vars: dict[str, Any] = {"ansible_host": host, "ansible_port": plan.port,
                                     "ansible_user": plan.username}
        if plan.python_path != "auto":
            host_vars["ansible_python_interpreter"] = plan.python_path
        return Instance(sid, InstanceState.READY, tags, hostname=host, port=plan.port,
                        host_vars=host_vars)

    def _addresses(self, server: Any) -> dict[str, list[str]]:
        """The server's addresses by kind (``public-ipv4``...), floating ones first."""
        found: dict[str, list[str]] = {k: [] for k in cfg.ADDRESS_KINDS}
        floating: list[tuple[str, str]] = []
        external = self._networks().external_names if server.addresses else set()
        for net, entries in (server.addresses or {}).items():
            for entry in entries or []:
                text = str(entry.get("addr") or "")
                try:
                    address = ipaddress.ip_address(text)
                except ValueError:
                    continue
                kind_of = "ipv4" if address.version == 4 else "ipv6"
                if entry.get("OS-EXT-IPS:type") == "floating":
                    floating.append((f"public-{kind_of}", text))
                elif net in external or address.is_global:
                    found[f"public-{kind_of}"].append(text)
                else:
                    found[f"private-{kind_of}"].append(text)
        for kind, text in reversed(floating):
            found[kind].insert(0, text)
        return found

    # -- floating IPs ----------------------------------------------------------------------------

    def _fip_description(self, server_id: str) -> str:
        return f"zuulish {self.system_id} server {server_id}"

    def _floating_network(self) -> str:
        cloud = self._networks()
        if self.floating_network:
            entry = cloud.networks.get(self.floating_network)
            if entry is None:
                raise ProviderError(f"provider {self.name!r}: floating-network "
                                    f"{self.floating_network!r} does not exist in the cloud",
                                    ErrorKind.PERMANENT)
            return entry[0]
        external = sorted({net_id for net_id, ext in cloud.networks.values() if ext})
        if len(external) != 1:
            raise ProviderError(f"provider {self.name!r}: the cloud has {len(external)} "
                                "external networks; say which one floating IPs come from "
                                "('floating-network')", ErrorKind.PERMANENT)
        return external[0]

    def _floating_ip(self, server_id: str) -> str:
        """The address of the server's floating IP, made now if it has none."""
        with self._lock:
            lock = self._fip_locks.setdefault(server_id, threading.Lock())
        conn = self.conn
        description = self._fip_description(server_id)
        with lock:
            made = self._call("listing floating IPs",
                              lambda: list(conn.network.ips(description=description)))
            if made:
                return str(made[0].floating_ip_address)
            ports = self._call(f"listing the ports of server {server_id}", lambda: list(
                conn.network.ports(device_id=server_id)))
            cloud = self._networks()
            internal = [p for p in ports if not cloud.networks.get(p.network_id, ("", False))[1]
                        and any(_is_v4(ip.get("ip_address")) for ip in p.fixed_ips or [])]
            if not internal:
                raise ProviderError(f"server {server_id} has no IPv4 port to attach a "
                                    "floating IP to", ErrorKind.PERMANENT)
            fip = self._call(f"creating a floating IP for server {server_id}",
                             conn.network.create_ip,
                             floating_network_id=self._floating_network(),
                             port_id=internal[0].id, description=description)
            return str(fip.floating_ip_address)

    def _cleanup_floating_ips(self) -> None:
        """Delete zuulish's floating IPs left unattached (a delete that failed half way),
        and with ``floating-ip-cleanup`` every unattached one. Failures are logged."""
        prefix = f"zuulish {self.system_id} server "
        try:
            for fip in list(self.conn.network.ips()):
                if fip.port_id:
                    continue
                if self.floating_ip_cleanup or (fip.description or "").startswith(prefix):
                    log.info("provider %s: deleting unattached floating IP %s (%s)", self.name,
                             fip.floating_ip_address, fip.description or "no description")
                    self.conn.network.delete_ip(fip, ignore_missing=True)
        except Exception as exc:
            log.warning("provider %s: cleaning up floating IPs failed: %s", self.name,
                        _details(exc))


def _is_v4(text: Any) -> bool:
    try:
        return ipaddress.ip_address(str(text)).version == 4
    except ValueError:
        return False


def _metadata(tags: Mapping[str, str]) -> dict[str, str]:
    """Nova metadata from tags (keys and values are strings of at most 255)."""
    out = {}
    for key, value in tags.items():
        key, value = str(key), str(value)
        if not key or len(key) > METADATA_MAX or len(value) > METADATA_MAX:
            raise ProviderError(f"tag {key[:40]!r} does not fit Nova's metadata (keys and "
                                f"values of 1 to {METADATA_MAX} characters)",
                                ErrorKind.PERMANENT)
        out[key] = value
    return out


def _server_name(text: str) -> str:
    """A host name from ``text``: letters, digits and dashes, at most 63."""
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")
    return cleaned[:63].rstrip("-") or "zuulish"


def _make(spec: ProviderSpec, system_id: str) -> OpenStackProvider:
    return OpenStackProvider(spec, system_id)


DRIVER = CloudDriver(
    name="openstack", provider_keys=cfg.PROVIDER_KEYS, image_keys=cfg.IMAGE_KEYS,
    flavor_keys=cfg.FLAVOR_KEYS, label_keys=cfg.LABEL_KEYS, connection_keys=cfg.CONNECTION_KEYS,
    make=_make)

