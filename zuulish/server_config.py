"""The server configuration file, ``zuulish.yaml``.

Example::

    state_dir: ./state                 # everything zuulish keeps on disk
    database: sqlite:///state/zuulish.db   # default: SQLite in state_dir
    tenant_file: main.yaml             # Zuul's tenant file format
    web: {listen: 127.0.0.1:9000, url: http://127.0.0.1:9000}
    # web.max_streams_per_client: 20   # live consoles and status streams per client
    # web.trusted_proxies: [10.0.0.0/8] # proxies whose X-Forwarded-For names the client
    connections:
      forge: {driver: git}             # the built-in git forge
      # cloud: {driver: openstack, cloud: mycloud}   # a node provider's connection
      #   (openstack, aws, podman: the options its driver lists); tenants'
      #   ``section`` objects name it, see config.node_providers
    nodepool:
      providers:
        - {name: local, driver: local, labels: [local], max_nodes: 4}
          # host_paths: [/opt/tools]      # host paths its nodes see (read-only)
          # gpus: auto                      # none (default) | auto | N: GPUs to hand out
          # gpu_labels: {local-gpu: 1}      # labels whose nodes get GPUs, how many each
          # nvidia_smi: /usr/bin/nvidia-smi # what detects them (default: on PATH)
          # gpu_paths: [/usr/lib/nvidia]    # host paths for them (default: nvidia-smi
          #                                 # and libnvidia-ml/libcuda from ldconfig -p)
        - name: rack                   # machines reached over SSH (nodepool's static driver)
          driver: static
          nodes: [{name: 192.0.2.10, labels: [ubuntu], username: zuul}]
      # tenant-resource-limits: [{tenant-name: t, max-servers: 20, max-gpus: 4}]
      # tenant-weights: {t: 2}         # shares of GPUs and bare metal between tenants
    executor: {workers: 2, preload_ansible: true}   # fork playbooks from a warm Ansible
    # executor.private_key_file: ~/.ssh/id_ed25519   # SSH key for static nodes
    # executor.log_retention_days: 30   # build logs kept this long (null: forever)
    # executor.sandbox_network: private  # untrusted playbooks' network: private | none | host
    # executor.max_returned_bytes: 1048576  # the most a build's zuul_return data may hold
    # executor.trusted_ro_paths: [/opt/tools]      # trusted playbooks also see these (read-only)
    # executor.trusted_rw_paths: [/srv/artifacts]  # ... and these (read-write)
    # executor.disk_limit_per_job: 250   # MB a build's work directory may hold (-1: no limit)
    # executor.node_max_processes: 1024  # processes of a local node (a pids cgroup)
    # executor.node_memory_mb: 4096      # memory of a local node (a memory cgroup)
    # executor.console_listen: 0.0.0.0:7900   # the executor's console server (for webs)
    # executor.console_url: http://executor-1:7900   # how webs reach it
    # auth: {NAME: {driver: HS256 | RS256 | OpenIDConnect, issuer_id: ..., client_id: ...}}
    #   authenticators of the web API's JSON Web Tokens; see zuulish.web.auth.settings
    logs: {store: local}               # or {store: s3, bucket: NAME, endpoint_url: URL,
                                       #     region: R, prefix: P}; credentials: boto3's

Relative paths are relative to the file's directory.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from zuulish.cluster.timing import Timing
from zuulish.errors import ConfigError
from zuulish.executor.local_node import (
    DEFAULT_DISK_LIMIT_MB,
    DEFAULT_MAX_PROCESSES,
    DEFAULT_MEMORY_MB,
    NodeLimits,
    refused_host_path,
)
from zuulish.executor.returned import DEFAULT_MAX_RETURNED_BYTES
from zuulish.executor.sandbox import DEFAULT_NETWORK, NETWORK_MODES
from zuulish.logs.settings import STORES, LogSettings
from zuulish.nodepool import drivers as node_drivers
from zuulish.nodepool.resources import Limits
from zuulish.nodepool.static import parse_hosts
from zuulish.nodepool.tenant_shares import parse_tenant_limits, parse_tenant_weights
from zuulish.web.auth.settings import AuthSettings, parse_auth
from zuulish.web.client_address import Network, parse_networks
from zuulish.web.streams import DEFAULT_MAX_PER_CLIENT

if TYPE_CHECKING:
    from zuulish.config.node_providers import NodeContext

DRIVERS = ("git", "gerrit", "github", "timer")
DEFAULT_RETENTION_DAYS = 30.0  # executor.log_retention_days
PROVIDER_DRIVERS = ("local", "static", "openstack")


@dataclass
class ConnectionConfig:
    name: str
    driver: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProviderConfig:
    name: str
    driver: str
    labels: tuple[str, ...]
    max_nodes: int = 4
    options: dict[str, Any] = field(default_factory=dict)
    zone: str | None = None  # the executor zone of its nodes (None: unzoned)


@dataclass
class ServerConfig:
    path: Path
    state_dir: Path
    database: str
    tenant_file: Path
    listen_host: str
    listen_port: int
    web_url: str
    connections: dict[str, ConnectionConfig]
    providers: list[ProviderConfig]
    # nodepool.tenant-resource-limits and nodepool.tenant-weights (cloud providers)
    tenant_limits: dict[str, Limits] = field(default_factory=dict)
    tenant_weights: dict[str, float] = field(default_factory=dict)
    executor_workers: int = 2
    executor_preload_ansible: bool = True
    # the private key SSH uses for remote (static) nodes; None: the user's default keys
    executor_private_key: Path | None = None
    # the network of untrusted playbooks' sandboxes: private (pasta), host or none
    executor_sandbox_network: str = DEFAULT_NETWORK
    # the most bytes a build's returned data (results.json) may hold; more is ignored
    executor_max_returned_bytes: int = DEFAULT_MAX_RETURNED_BYTES
    # what trusted playbooks' sandboxes see besides their build (never the state dir)
    executor_trusted_ro_paths: tuple[Path, ...] = ()
    executor_trusted_rw_paths: tuple[Path, ...] = ()
    # local nodes' process and memory limits, and every build's disk limit
    executor_node_limits: NodeLimits = field(default_factory=NodeLimits)
    poll_interval: float = 0.2
    merger_workers: int = 1
    merger_timeout: float = 300.0  # seconds to build one item's state
    merger_cache_max_bytes: int | None = None  # bound on the merger's repo cache
    # a static bearer token for the management API (off when None): the embedded
    # mode's opt-in; authenticators (``auth``) and the tenants' rules are the real thing
    admin_token: str | None = None
    # live streams (consoles, status events) one client may hold open on a web: a
    # token's user, else an address
    max_streams_per_client: int = DEFAULT_MAX_PER_CLIENT
    # reverse proxies whose X-Forwarded-For names the client (web.trusted_proxies)
    trusted_proxies: tuple[Network, ...] = ()
    # the ``auth:`` section: authenticators of the web API's JSON Web Tokens
    auth: AuthSettings = field(default_factory=AuthSettings)
    # build logs are removed this many days after the build finished (None: kept)
    log_retention_days: float | None = DEFAULT_RETENTION_DAYS
    # the executor zone this host's executor serves (None: unzoned nodes only)
    executor_zone: str | None = None
    # heartbeats, when a silent component is dead, the active scheduler's lease
    cluster: Timing = field(default_factory=Timing)
    # where finished builds' logs are kept (the ``logs:`` section)
    logs: LogSettings = field(default_factory=LogSettings)
    # the executor's console server: (host, port) to listen on (None: not served)
    # and the URL other components reach it at
    executor_console_listen: tuple[str, int] | None = None
    executor_console_url: str | None = None
    # metrics.listen: (host, port) a component serves its own Prometheus metrics on
    # (None: not served; a web serves them at /metrics)
    metrics_listen: tuple[str, int] | None = None

    def cloud_connections(self) -> dict[str, ConnectionConfig]:
        """The connections whose driver boots nodes (openstack, aws, podman): what
        the tenants' ``section`` objects name; they have no source or reporter."""
        return {name: conn for name, conn in self.connections.items()
                if conn.driver in node_drivers.MODULES}

    def provider_labels(self) -> frozenset[str]:
        """The labels the ``nodepool.providers`` of this file (local, static) offer."""
        return frozenset(label for p in self.providers for label in p.labels)

    def node_context(self) -> NodeContext:
        """What the config loader needs of this file to resolve tenants' providers
        and to check that some provider offers each label nodesets use."""
        from zuulish.config.node_providers import CloudConnection, NodeContext

        return NodeContext({name: CloudConnection(name, conn.driver, dict(conn.options))
                            for name, conn in self.cloud_connections().items()},
                           self.provider_labels())

    def connection(self, name: str) -> ConnectionConfig:
        try:
            return self.connections[name]
        except KeyError:
            raise ConfigError(f"no connection named {name!r}", file=str(self.path)) from None


_TOP_KEYS = {"state_dir", "database", "tenant_file", "web", "connections", "nodepool",
             "executor", "scheduler", "merger", "cluster", "logs", "auth",
             "metrics"}


def _unknown(key: str, allowed: set[str] | tuple[str, ...], where: str, path: Path,
             prefix: str = "") -> ConfigError:
    """``prefix`` is the dotted path of the mapping the key is in (e.g. ``executor.``)."""
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f" (did you mean {prefix + close[0]!r}?)" if close else ""
    return ConfigError(
        f"unknown key {where}{prefix + key!r}{hint}; allowed: {', '.join(sorted(allowed))}",
        file=str(path))


KIND_NAMES = {int: "an integer", float: "a number", str: "a string", dict: "a mapping",
              list: "a list", bool: "true or false"}


def kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = (kind,) if isinstance(kind, type) else kind
    return " or ".join(KIND_NAMES.get(k, k.__name__) for k in kinds)


def _expect(value: Any, kind: type | tuple[type, ...], key: str, path: Path) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in
                                       ((kind,) if isinstance(kind, type) else kind)):
        raise ConfigError(f"key {key!r} must be {kind_name(kind)}, not {value!r}",
                          file=str(path))
    return value


def _check_keys(data: dict, allowed: set[str], where: str, path: Path) -> None:
    for key in data:
        if key not in allowed:
            raise _unknown(str(key), allowed, "", path, prefix=where)


def _positive(section: dict[str, Any], key: str, default: int, path: Path) -> int:
    value = _expect(section.get(key, default), int, f"executor.{key}", path)
    if isinstance(value, bool) or value <= 0:
        raise ConfigError(f"key 'executor.{key}' must be a positive number", file=str(path))
    return value


def _check_cloud_connection(name: str, driver: str, options: dict[str, Any],
                            path: Path) -> None:
    """A node provider connection's options: those its driver lists."""
    try:
        cloud = node_drivers.driver(driver)
    except (node_drivers.UnknownDriver, ImportError) as exc:
        raise ConfigError(f"connections.{name}: the {driver} node provider driver is not "
                          f"available: {exc}", file=str(path)) from None
    for key in options:
        if key not in cloud.connection_keys:
            raise _unknown(str(key), set(cloud.connection_keys), f"for the {driver} driver ",
                           path, prefix=f"connections.{name}.")


def _host_paths(prov: dict[str, Any], where: str, state_dir: Path, path: Path) -> tuple[str, ...]:
    """A local provider's ``host_paths``: absolute host paths its nodes see read-only;
    never the state directory, what lies in it or what holds it."""
    given = _expect(prov.get("host_paths", []), list, f"{where}.host_paths", path)
    paths = []
    for i, item in enumerate(given):
        text = _expect(item, str, f"{where}.host_paths[{i}]", path)
        why = refused_host_path(Path(text), state_dir)
        if why is not None:
            raise ConfigError(f"{where}.host_paths[{i}]: {why}; local nodes may not see it",
                              file=str(path))
        paths.append(text)
    return tuple(paths)


LOCAL_GPU_KEYS = ("gpus", "gpu_labels", "nvidia_smi", "gpu_paths", "gpu_device_root")


def _local_gpus(prov: dict[str, Any], where: str, labels: list[str], state_dir: Path,
                path: Path) -> dict[str, Any]:
    """A local provider's GPU options (``LocalProvider``'s keyword arguments; none
    when ``gpus`` is ``none``, the default): ``gpus`` (auto, none or a positive
    number), ``gpu_labels`` (label: GPUs per node; labels of this provider),
    ``nvidia_smi``, ``gpu_paths`` (absolute host paths, never the state
    directory) and ``gpu_device_root`` (where the device files are; for tests)."""
    gpus = prov.get("gpus", "none")
    if isinstance(gpus, bool) or not (gpus in ("auto", "none") or
                                      (isinstance(gpus, int) and gpus > 0)):
        raise ConfigError(f"key '{where}.gpus' must be auto, none or a positive number of "
                          f"GPUs, not {gpus!r}", file=str(path))
    gpu_labels = _expect(prov.get("gpu_labels") or {}, dict, f"{where}.gpu_labels", path)
    if gpus == "none":
        given = [k for k in LOCAL_GPU_KEYS if k != "gpus" and k in prov]
        if given:
            raise ConfigError(f"{where}.{given[0]} is set but {where}.gpus is none (the "
                              "default): set gpus to auto or a number to hand out GPUs",
                              file=str(path))
        return {}
    if not gpu_labels:
        raise ConfigError(f"{where}.gpus is {gpus}, but {where}.gpu_labels names no label: "
                          "say which labels' nodes get GPUs, e.g. {local-gpu: 1}",
                          file=str(path))
    for label, count in gpu_labels.items():
        if str(label) not in labels:
            raise ConfigError(f"{where}.gpu_labels: {label!r} is not one of this provider's "
                              f"labels ({', '.join(labels)})", file=str(path))
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ConfigError(f"key '{where}.gpu_labels.{label}' must be a positive number "
                              f"of GPUs, not {count!r}", file=str(path))
        if isinstance(gpus, int) and count > gpus:
            raise ConfigError(f"{where}.gpu_labels.{label} wants {count} GPUs, more than "
                              f"{where}.gpus ({gpus}): its nodes could never be made",
                              file=str(path))
    out: dict[str, Any] = {"gpus": gpus,
                           "gpu_labels": {str(k): v for k, v in gpu_labels.items()}}
    if "nvidia_smi" in prov:
        smi = _expect(prov["nvidia_smi"], str, f"{where}.nvidia_smi", path)
        if not smi:
            raise ConfigError(f"key '{where}.nvidia_smi' must not be empty", file=str(path))
        out["nvidia_smi"] = smi
    if "gpu_paths" in prov:
        given_paths = _expect(prov["gpu_paths"], list, f"{where}.gpu_paths", path)
        paths = []
        for i, item in enumerate(given_paths):
            text = _expect(item, str, f"{where}.gpu_paths[{i}]", path)
            why = refused_host_path(Path(text), state_dir)
            if why is not None:
                raise ConfigError(f"{where}.gpu_paths[{i}]: {why}; local nodes may not see it",
                                  file=str(path))
            paths.append(text)
        out["gpu_paths"] = tuple(paths)
    if "gpu_device_root" in prov:
        root = _expect(prov["gpu_device_root"], str, f"{where}.gpu_device_root", path)
        if not Path(root).is_absolute():
            raise ConfigError(f"{where}.gpu_device_root: {root} is not an absolute path",
                              file=str(path))
        out["device_root"] = Path(root)
    return out


def _retention_days(value: Any, path: Path) -> float | None:
    """``executor.log_retention_days``: a positive number of days, or None (keep logs)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError("key 'executor.log_retention_days' must be a positive number of "
                          f"days (or null to keep logs forever), not {value!r}",
                          file=str(path))
    return float(value)


_LOGS_KEYS = {"store", "bucket", "endpoint_url", "region", "prefix"}
_CREDENTIAL_KEYS = ("access_key", "secret_key", "aws_access_key_id", "aws_secret_access_key",
                    "session_token", "access-key-id", "secret-access-key")


def _logs_section(value: Any, path: Path) -> LogSettings:
    """``logs:``: ``{store: local}`` or ``{store: s3, bucket, endpoint_url, region,
    prefix}``; credentials are refused here (boto3's chain provides them)."""
    section = _expect(value or {}, dict, "logs", path)
    for key in section:
        if str(key).lower() in _CREDENTIAL_KEYS:
            raise ConfigError(f"logs.{key}: credentials do not belong in zuulish.yaml; give "
                              "them to boto3 as usual (AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY in the environment, a profile or a role)",
                              file=str(path))
    _check_keys(section, _LOGS_KEYS, "logs.", path)
    store = section.get("store", "local")
    if store not in STORES:
        raise ConfigError(f"key 'logs.store' must be one of {', '.join(STORES)}, not "
                          f"{store!r}", file=str(path))
    if store == "local":
        extra = sorted(str(k) for k in section if k != "store")
        if extra:
            raise ConfigError(f"logs.{extra[0]} is only for 'store: s3' (logs.store is local)",
                              file=str(path))
        return LogSettings()
    if "bucket" not in section:
        raise ConfigError("missing required key 'logs.bucket' (the S3 bucket for build logs)",
                          file=str(path))
    bucket = _expect(section["bucket"], str, "logs.bucket", path)
    if not 3 <= len(bucket) <= 63 or not all(c.isalnum() or c in ".-_" for c in bucket) \
            or not bucket[0].isalnum():
        raise ConfigError(f"key 'logs.bucket' must be an S3 bucket name (3 to 63 letters, "
                          f"digits, dots, dashes), not {bucket!r}", file=str(path))
    endpoint = section.get("endpoint_url")
    if endpoint is not None:
        endpoint = _expect(endpoint, str, "logs.endpoint_url", path)
        if not endpoint.startswith(("http://", "https://")) or len(endpoint) < 10:
            raise ConfigError(f"key 'logs.endpoint_url' must be an http:// or https:// URL, "
                              f"not {endpoint!r}", file=str(path))
    region = section.get("region")
    if region is not None:
        region = _expect(region, str, "logs.region", path)
        if not region:
            raise ConfigError("key 'logs.region' must not be empty", file=str(path))
    prefix = _expect(section.get("prefix", ""), str, "logs.prefix", path).strip("/")
    if any(p in (".", "..") for p in prefix.split("/") if prefix) or "//" in prefix \
            or any(ord(c) < 32 for c in prefix):
        raise ConfigError(f"key 'logs.prefix' must be a plain key prefix such as "
                          f"'zuulish/logs', not {section.get('prefix')!r}", file=str(path))
    return LogSettings("s3", bucket, endpoint.rstrip("/") if endpoint else None, region,
                       prefix)


def _console_settings(executor: dict[str, Any], path: Path
                      ) -> tuple[tuple[str, int] | None, str | None]:
    """``executor.console_listen`` (HOST:PORT) and ``executor.console_url`` (default
    ``http://<hostname>:<port>``)."""
    listen = executor.get("console_listen")
    url = executor.get("console_url")
    if listen is None:
        if url is not None:
            raise ConfigError("executor.console_url is set but executor.console_listen is "
                              "not: say where the console server listens", file=str(path))
        return None, None
    text = _expect(listen, str, "executor.console_listen", path)
    host, _, port_text = text.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"key 'executor.console_listen' must be HOST:PORT, not {text!r}",
                          file=str(path))
    if url is None:
        import socket

        url = f"http://{socket.gethostname()}:{int(port_text)}"
    url = _expect(url, str, "executor.console_url", path)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"key 'executor.console_url' must be an http:// or https:// URL, "
                          f"not {url!r}", file=str(path))
    return (host.strip("[]"), int(port_text)), url.rstrip("/")


def load_server_config(path: str | Path) -> ServerConfig:
    """Read and validate ``zuulish.yaml``; errors name the key and the file."""
    path = Path(path).resolve()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read server configuration: {exc.strerror}", file=str(path)) \
            from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise ConfigError(f"not valid YAML: {exc}", file=str(path),
                          line=line + 1 if line is not None else None) from exc
    if data is None:
        data = {}
    _expect(data, dict, "(top level)", path)
    _check_keys(data, _TOP_KEYS, "", path)
    base = path.parent

    state_dir = (base / _expect(data.get("state_dir", "state"), str, "state_dir", path)).resolve()
    database = data.get("database") or f"sqlite:///{state_dir / 'zuulish.db'}"
    _expect(database, str, "database", path)
    if "tenant_file" not in data:
        raise ConfigError("missing required key 'tenant_file' (the tenant configuration)",
                          file=str(path))
    tenant_file = (base / _expect(data["tenant_file"], str, "tenant_file", path)).resolve()

    web = _expect(data.get("web") or {}, dict, "web", path)
    _check_keys(web, {"listen", "url", "admin_token", "max_streams_per_client",
                      "trusted_proxies"}, "web.", path)
    proxies_given = web.get("trusted_proxies") or []
    if not isinstance(proxies_given, list):
        raise ConfigError("key 'web.trusted_proxies' must be a list of addresses or networks "
                          f"(such as ['10.0.0.0/8']), not {proxies_given!r}", file=str(path))
    try:
        trusted_proxies = parse_networks(proxies_given)
    except ValueError as exc:
        raise ConfigError(f"key 'web.trusted_proxies': {exc}", file=str(path)) from None
    max_streams = web.get("max_streams_per_client", DEFAULT_MAX_PER_CLIENT)
    if isinstance(max_streams, bool) or not isinstance(max_streams, int) or max_streams < 1:
        raise ConfigError("key 'web.max_streams_per_client' must be a whole number, 1 or "
                          f"more, not {max_streams!r}", file=str(path))
    admin_token = web.get("admin_token")
    if admin_token is not None and (not isinstance(admin_token, str) or len(admin_token) < 16):
        raise ConfigError("key 'web.admin_token' must be a string of at least 16 characters",
                          file=str(path))
    listen = str(web.get("listen", "127.0.0.1:9000"))
    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit():
        raise ConfigError(f"key 'web.listen' must be HOST:PORT, not {listen!r}", file=str(path))
    port = int(port_text)
    web_url = str(web.get("url") or f"http://{host}:{port}").rstrip("/")

    connections: dict[str, ConnectionConfig] = {}
    for name, conn in (_expect(data.get("connections") or {}, dict, "connections", path)).items():
        _expect(conn, dict, f"connections.{name}", path)
        driver = conn.get("driver")
        if driver is None:
            raise ConfigError(f"missing required key 'connections.{name}.driver'", file=str(path))
        options = {k: v for k, v in conn.items() if k != "driver"}
        if driver in node_drivers.MODULES:
            _check_cloud_connection(str(name), str(driver), options, path)
        elif driver not in DRIVERS:
            raise _unknown(str(driver), (*DRIVERS, *sorted(node_drivers.MODULES)),
                           f"driver in connections.{name}: ", path)
        connections[str(name)] = ConnectionConfig(str(name), driver, options)

    nodepool = _expect(data.get("nodepool") or {}, dict, "nodepool", path)
    _check_keys(nodepool, {"providers", "tenant-resource-limits", "tenant-weights"},
                "nodepool.", path)
    tenant_limits = parse_tenant_limits(nodepool.get("tenant-resource-limits", []), path)
    tenant_weights = parse_tenant_weights(nodepool.get("tenant-weights") or {}, path)
    providers = []
    raw_providers = nodepool.get("providers", [{"name": "local", "driver": "local"}])
    for i, prov in enumerate(_expect(raw_providers, list, "nodepool.providers", path)):
        where = f"nodepool.providers[{i}]"
        _expect(prov, dict, where, path)
        for required in ("name", "driver"):
            if required not in prov:
                raise ConfigError(f"missing required key '{where}.{required}'", file=str(path))
        if prov["driver"] not in PROVIDER_DRIVERS:
            raise _unknown(str(prov["driver"]), PROVIDER_DRIVERS, f"driver in {where}: ", path)
        if prov["driver"] == "openstack":
            raise ConfigError(f"{where}: an 'openstack' provider is a Zuul 'provider' "
                              "object (with its 'section') in a config project, whose "
                              "section names a connection of this file with 'driver: "
                              "openstack'; see config-examples/openstack-gpu/",
                              file=str(path))
        options = {k: v for k, v in prov.items()
                   if k not in ("name", "driver", "labels", "max_nodes", "zone")}
        zone = prov.get("zone")
        if zone is not None and (not isinstance(zone, str) or not zone.strip()):
            raise ConfigError(f"key '{where}.zone' must be the name of an executor zone, not "
                              f"{zone!r}", file=str(path))
        if prov["driver"] == "static":
            if "labels" in prov or "max_nodes" in prov:
                raise ConfigError(f"{where}: a static provider takes its labels and size "
                                  "from its nodes (each node's labels and "
                                  "max-parallel-jobs)", file=str(path))
            hosts = parse_hosts(options, where, path)
            providers.append(ProviderConfig(
                str(prov["name"]), "static",
                tuple(sorted({label for h in hosts for label in h.labels})),
                sum(h.max_parallel_jobs for h in hosts), {"hosts": hosts}, zone))
            continue
        labels = prov.get("labels", ["local"])
        _expect(labels, list, f"{where}.labels", path)
        max_nodes = _expect(prov.get("max_nodes", 4), int, f"{where}.max_nodes", path)
        for key in ("host_paths", *LOCAL_GPU_KEYS):
            options.pop(key, None)
        if options:
            raise _unknown(str(next(iter(options))),
                           {"name", "driver", "labels", "max_nodes", "host_paths", "zone",
                            *LOCAL_GPU_KEYS}, "", path, prefix=f"{where}.")
        host_paths = _host_paths(prov, where, state_dir, path)
        if host_paths:
            options["host_paths"] = host_paths
        options.update(_local_gpus(prov, where, [str(x) for x in labels], state_dir, path))
        providers.append(ProviderConfig(str(prov["name"]), prov["driver"],
                                        tuple(str(x) for x in labels), max_nodes, options,
                                        zone))

    executor = _expect(data.get("executor") or {}, dict, "executor", path)
    _check_keys(executor, {"workers", "preload_ansible", "log_retention_days",
                           "private_key_file", "sandbox_network", "max_returned_bytes",
                           "trusted_ro_paths", "trusted_rw_paths", "disk_limit_per_job",
                           "node_max_processes", "node_memory_mb", "zone", "console_listen",
                           "console_url"}, "executor.", path)
    console_listen, console_url = _console_settings(executor, path)
    executor_zone = executor.get("zone")
    if executor_zone is not None and (not isinstance(executor_zone, str)
                                      or not executor_zone.strip()):
        raise ConfigError("key 'executor.zone' must be the name of an executor zone, not "
                          f"{executor_zone!r}", file=str(path))
    timing = _cluster_timing(data, path)
    max_returned = executor.get("max_returned_bytes", DEFAULT_MAX_RETURNED_BYTES)
    if isinstance(max_returned, bool) or not isinstance(max_returned, int) \
            or max_returned <= 0:
        raise ConfigError("key 'executor.max_returned_bytes' must be a positive whole number "
                          f"of bytes, not {max_returned!r}", file=str(path))
    trusted_ro = _trusted_paths(executor, "trusted_ro_paths", state_dir, path)
    trusted_rw = _trusted_paths(executor, "trusted_rw_paths", state_dir, path)
    limits = NodeLimits(
        max_processes=_positive(executor, "node_max_processes", DEFAULT_MAX_PROCESSES, path),
        memory_mb=_positive(executor, "node_memory_mb", DEFAULT_MEMORY_MB, path),
        disk_limit_mb=_expect(executor.get("disk_limit_per_job", DEFAULT_DISK_LIMIT_MB), int,
                              "executor.disk_limit_per_job", path))
    if limits.disk_limit_mb == 0 or limits.disk_limit_mb < -1:
        raise ConfigError("key 'executor.disk_limit_per_job' must be a number of MB, or -1 "
                          "for no limit", file=str(path))
    sandbox_network = executor.get("sandbox_network", DEFAULT_NETWORK)
    if sandbox_network not in NETWORK_MODES:
        raise ConfigError(f"key 'executor.sandbox_network' must be one of "
                          f"{', '.join(NETWORK_MODES)}, not {sandbox_network!r}",
                          file=str(path))
    private_key = executor.get("private_key_file")
    if private_key is not None:
        private_key = (base / Path(_expect(private_key, str, "executor.private_key_file",
                                           path)).expanduser()).resolve()
    retention = _retention_days(executor.get("log_retention_days", DEFAULT_RETENTION_DAYS),
                                path)
    workers = _expect(executor.get("workers", 2), int, "executor.workers", path)
    preload = _expect(executor.get("preload_ansible", True), bool, "executor.preload_ansible",
                      path)
    scheduler = _expect(data.get("scheduler") or {}, dict, "scheduler", path)
    _check_keys(scheduler, {"poll_interval"}, "scheduler.", path)
    poll = _expect(scheduler.get("poll_interval", 0.2), (int, float), "scheduler.poll_interval",
                   path)
    merger = _expect(data.get("merger") or {}, dict, "merger", path)
    _check_keys(merger, {"workers", "timeout", "cache_max_bytes"}, "merger.", path)
    merger_workers = _expect(merger.get("workers", 1), int, "merger.workers", path)
    if merger_workers != 1:
        # one merger builds every item's state, in order; there is no pool to size
        raise ConfigError(f"key 'merger.workers' must be 1, not {merger_workers!r}: zuulish "
                          "runs one merger, which builds every item's state in turn",
                          file=str(path))
    merger_timeout = _expect(merger.get("timeout", 300), (int, float), "merger.timeout", path)
    cache_max = merger.get("cache_max_bytes")
    if cache_max is not None:
        cache_max = _expect(cache_max, int, "merger.cache_max_bytes", path)
    if merger_timeout <= 0 or (cache_max is not None and cache_max <= 0):
        raise ConfigError("merger.timeout and merger.cache_max_bytes must be positive",
                          file=str(path))

    return ServerConfig(
        path=path, state_dir=state_dir, database=database, tenant_file=tenant_file,
        listen_host=host, listen_port=port, web_url=web_url, connections=connections,
        providers=providers, tenant_limits=tenant_limits, tenant_weights=tenant_weights,
        executor_workers=workers, executor_preload_ansible=preload,
        executor_private_key=private_key, executor_sandbox_network=sandbox_network,
        executor_max_returned_bytes=max_returned,
        executor_trusted_ro_paths=trusted_ro, executor_trusted_rw_paths=trusted_rw,
        executor_node_limits=limits,
        poll_interval=float(poll),
        merger_workers=merger_workers,
        merger_timeout=float(merger_timeout), merger_cache_max_bytes=cache_max,
        admin_token=admin_token, max_streams_per_client=max_streams,
        trusted_proxies=trusted_proxies,
        log_retention_days=retention,
        executor_zone=executor_zone, cluster=timing,
        logs=_logs_section(data.get("logs"), path),
        auth=_auth_section(data, text, path),
        executor_console_listen=console_listen, executor_console_url=console_url,
        metrics_listen=_metrics_listen(data, text, path),
    )


def _line_of(text: str, keys: tuple[str, ...]) -> int | None:
    """The line (1-based) of the value at ``keys`` in the YAML ``text``, or of the
    deepest of them found."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            break
        found = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key]
        if not found:
            break
        node = found[-1]
        line = node.start_mark.line + 1
    return line


def _metrics_listen(data: dict[str, Any], text: str, path: Path) -> tuple[str, int] | None:
    """``metrics: {listen: HOST:PORT}``: where a component serves its own metrics."""
    section = data.get("metrics")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"key 'metrics' must be a mapping, not {section!r}",
                          file=str(path), line=_line_of(text, ("metrics",)))
    for key in section:
        if key != "listen":
            error = _unknown(str(key), {"listen"}, "", path, prefix="metrics.")
            error.line = _line_of(text, ("metrics", str(key)))
            raise error
    listen = section.get("listen")
    if listen is None:
        return None
    where = _line_of(text, ("metrics", "listen"))
    host, _, port_text = listen.rpartition(":") if isinstance(listen, str) else ("", "", "")
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536 \
            or any(c.isspace() for c in host):
        raise ConfigError(f"key 'metrics.listen' must be HOST:PORT (a port from 1 to "
                          f"65535), not {listen!r}", file=str(path), line=where)
    return host, int(port_text)


def _auth_section(data: dict[str, Any], text: str, path: Path) -> AuthSettings:
    """The ``auth:`` section, read again with lines so that errors name them."""
    if data.get("auth") is None:
        return AuthSettings()
    from zuulish.config.yaml_loader import load_yaml

    return parse_auth(load_yaml(text, str(path)).get("auth"), path)


def _cluster_timing(data: dict[str, Any], path: Path) -> Timing:
    """The ``cluster:`` section: heartbeats, the death timeout, the scheduler's lease."""
    section = _expect(data.get("cluster") or {}, dict, "cluster", path)
    keys = {"heartbeat_seconds": "heartbeat", "dead_after_seconds": "dead_after",
            "lease_seconds": "lease"}
    _check_keys(section, set(keys), "cluster.", path)
    values = {}
    for key, field_name in keys.items():
        if key in section:
            value = section[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"key 'cluster.{key}' must be a number of seconds, not "
                                  f"{value!r}", file=str(path))
            values[field_name] = float(value)
    timing = Timing(**values)
    problem = timing.problem()
    if problem is not None:
        raise ConfigError(f"cluster: {problem}", file=str(path))
    return timing


def _trusted_paths(executor: dict[str, Any], key: str, state_dir: Path,
                   path: Path) -> tuple[Path, ...]:
    """``executor.<key>``: absolute paths that exist, none of them the state
    directory, inside it or holding it (trusted playbooks never see the state)."""
    where = f"executor.{key}"
    entries = _expect(executor.get(key) or [], list, where, path)
    state = state_dir.resolve()
    found: list[Path] = []
    for entry in entries:
        text = _expect(entry, str, f"each entry of {where}", path)
        given = Path(text)
        if not given.is_absolute():
            raise ConfigError(f"{where}: {text!r} must be an absolute path", file=str(path))
        if not given.exists():
            raise ConfigError(f"{where}: {text} does not exist", file=str(path))
        real = given.resolve()
        if real == state or state.is_relative_to(real) or real.is_relative_to(state):
            raise ConfigError(f"{where}: {text} is, holds or lies in the state directory "
                              f"{state_dir}, which trusted playbooks may never see",
                              file=str(path))
        found.append(real)
    return tuple(found)
