"""Nodes that are podman containers on this host, reached over SSH.

Each node is a fresh container of a local image (never pulled: ``--pull never``)
that runs sshd; its port 22 is published on ``host`` (by default the host's address on
the nodes' bridge network, which builds' sandboxes reach) at a
port podman picks, on podman's own network (never the host's). The configured
public key reaches the container in ``$ZUULISH_AUTHORIZED_KEYS`` and the image's
start command authorizes it for ``$ZUULISH_USER`` (the image's ``username``); the
image that ``podman_image`` builds does this, makes fresh host keys and prints them
(read back into ``Instance.host_keys``). ``delete`` removes the container.

Containers carry the caller's tags (and the label's ``tags``) as podman labels;
``instances()`` lists every container with a ``zuulish-system`` label.

Options. Connection (zuulish.yaml): ``podman`` (binary), ``public-key`` (the
``.pub`` to authorize; default ``~/.ssh/id_ed25519.pub``, the public half of the
executor's usual key), ``host`` (publish address; ``auto``: the bridge's gateway),
``quota``
(``{instances, cores, ram, gpus}`` this host holds; none by default),
``gpu-devices`` (the host's CDI device names, handed out to GPU nodes one each),
``command-timeout`` (s, 60), and the host settings below. Image entry:
``image-name`` (local reference; default the image's name), ``username``
(``zuul``), ``python-path``. Flavor entry: ``cpus`` (``--cpus``), ``memory`` (MB,
``--memory``). Provider's label entry: ``gpus`` (count, as ``--device`` CDI
names), ``gpu-model``.

Hosts differ in what podman can do there, so the first container start is tried
(``podman create`` + ``podman init``, which runs the OCI runtime's setup, with no
process started) and, on the errors we know, set right:

- crun refuses hybrid cgroup hierarchies: use ``--runtime runc``;
- podman's default rlimits (1048576 open files) are above what an unprivileged
  root (without CAP_SYS_RESOURCE) may set: pass this process's hard limits
  (``--ulimit nofile=N:N --ulimit nproc=M:M``, M at most ``kernel.pid_max``);
- no systemd: ``--cgroup-manager cgroupfs`` (chosen up front when
  ``/run/systemd/system`` is missing);
- the bridge network cannot be set up: ``--network slirp4netns``, then ``pasta``.

Connection options set any of these outright (``runtime``, ``cgroup-manager``,
``ulimits``, ``network``) and then no other is tried for it. What worked is kept
for the process's later providers with the same connection.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import resource
import shutil
import subprocess
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zuulish.nodepool.cloud import (
    TAG_SYSTEM,
    ErrorKind,
    Instance,
    InstanceState,
    LabelOffer,
    ProviderError,
    ProviderSpec,
)
from zuulish.nodepool.common import common_attributes
from zuulish.nodepool.drivers import CloudDriver
from zuulish.nodepool.podman_image import HOST_KEY_LINE, HOST_KEYS_DONE, RECIPE_LABEL
from zuulish.nodepool.resources import LIMIT_KEYS, Limits, Resources

log = logging.getLogger(__name__)

CONNECTION_KEYS = frozenset({"podman", "runtime", "cgroup-manager", "ulimits", "network",
                             "host", "public-key", "quota", "gpu-devices",
                             "command-timeout"})
PROVIDER_KEYS: frozenset[str] = frozenset()
IMAGE_KEYS = frozenset({"image-name", "username", "python-path"})
FLAVOR_KEYS = frozenset({"cpus", "memory"})
LABEL_KEYS = frozenset({"gpus", "gpu-model"})

DEFAULT_PUBLIC_KEY = "~/.ssh/id_ed25519.pub"
SSH_PORT = "22/tcp"
GPU_LABEL = "zuulish-gpu-devices"
NETWORKS = ("bridge", "slirp4netns", "pasta")
# podman's states (libpod's ContainerStatus) -> ours
_BUILDING = {"configured", "created", "initialized"}
_FAILED = {"exited", "stopped", "dead", "paused", "stopping"}


def _permanent(message: str) -> ProviderError:
    return ProviderError(message, ErrorKind.PERMANENT)


# ---------------------------------------------------------------------------
# podman on this host: its binary, global flags and run flags


@dataclass(frozen=True)
class HostSettings:
    """How podman runs containers here: global flags and per-run flags."""

    runtime: str | None = None
    cgroup_manager: str | None = None
    ulimits: tuple[str, ...] | None = None   # None: podman's defaults
    network: str | None = None               # None: podman's default (bridge)

    def global_args(self) -> list[str]:
        args = []
        if self.runtime:
            args += ["--runtime", self.runtime]
        if self.cgroup_manager:
            args += ["--cgroup-manager", self.cgroup_manager]
        return args

    def run_args(self) -> list[str]:
        args = []
        for ulimit in self.ulimits or ():
            args += ["--ulimit", ulimit]
        if self.network:
            args += ["--network", self.network]
        return args


# what worked on this host, kept across providers (a reconfiguration makes new ones)
_PROBED: dict[tuple[str, HostSettings, str], HostSettings] = {}
_PROBED_LOCK = threading.Lock()


def host_ulimits() -> tuple[str, ...]:
    """The open files and processes limits podman can give a container here: this
    process's hard limits (podman raises its soft ones to them), processes at most
    ``kernel.pid_max`` as podman caps its own."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = 32768
    if nproc == resource.RLIM_INFINITY or nproc > pid_max:
        nproc = pid_max
    if nofile == resource.RLIM_INFINITY:
        nofile = 1048576
    return (f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}")


def classify(message: str) -> ErrorKind:
    """What kind of failure podman's error message says."""
    low = message.lower()
    if any(s in low for s in ("no space left", "cannot allocate memory",
                              "resource temporarily unavailable", "no free gpu")):
        return ErrorKind.QUOTA
    if any(s in low for s in ("image not known", "no such image", "unknown flag",
                              "invalid argument", "invalid reference", "cdi",
                              "unknown device", "not found in $path", "permission denied",
                              "unknown shorthand flag", "must be")):
        return ErrorKind.PERMANENT
    return ErrorKind.TRANSIENT


class Podman:
    """The podman command line with this host's global flags."""

    def __init__(self, binary: str, timeout: float) -> None:
        self.binary = binary
        self.timeout = timeout

    def __call__(self, settings: HostSettings, *args: str,
                 check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [self.binary, *settings.global_args(), *args]
        try:
            result = subprocess.run(argv, capture_output=True, text=True,
                                    timeout=self.timeout, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise _permanent(f"podman binary {self.binary!r} not found "
                             "(connection option podman)") from None
        except PermissionError as error:
            raise _permanent(f"podman binary {self.binary!r}: {error}") from None
        except subprocess.TimeoutExpired:
            raise ProviderError(f"podman {args[0]} did not answer within "
                                f"{self.timeout:g} s") from None
        if check and result.returncode != 0:
            message = _error_text(result)
            raise ProviderError(f"podman {args[0]}: {message}", classify(message))
        return result


def _error_text(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr.strip() or result.stdout.strip()
            or f"exit status {result.returncode}")
    return " ".join(text.splitlines()[-5:])


# ---------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class LabelPlan:
    """How one label's containers are made."""

    label: str
    image: str          # local image reference
    username: str
    python_path: str
    cpus: float | None
    memory_mb: int | None
    gpus: int
    gpu_model: str | None
    tags: Mapping[str, str] = field(default_factory=dict)  # the label's own

    def resources(self) -> Resources:
        return Resources(instances=1, cores=math.ceil(self.cpus or 0),
                         ram_mb=self.memory_mb or 0, gpus=self.gpus)


def _number(value: Any, what: str, kind: type = int) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or (kind is int and not isinstance(value, int)) or value < 0:
        raise _permanent(f"{what} must be a non-negative "
                         f"{'integer' if kind is int else 'number'}, not {value!r}")
    return value


def _label_plan(spec: ProviderSpec, name: str) -> LabelPlan:
    label = spec.labels[name]
    where = f"provider {spec.name}, label {name}"
    image_name = label.image.get("image-name") or label.image.get("name")
    if not image_name or not isinstance(image_name, str):
        raise _permanent(f"{where}: its image has no image-name")
    username = label.image.get("username", "zuul")
    if not isinstance(username, str) or not re.fullmatch(r"[a-z_][a-z0-9_-]*", username):
        raise _permanent(f"{where}: image username {username!r} is not a user name")
    cpus = label.flavor.get("cpus")
    memory = label.flavor.get("memory")
    gpus = label.attributes.get("gpus", 0)
    gpu_model = label.attributes.get("gpu-model")
    tags = label.attributes.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise _permanent(f"{where}: tags must be a mapping, not {tags!r}")
    if gpu_model is not None and not isinstance(gpu_model, str):
        raise _permanent(f"{where}: gpu-model must be a string")
    return LabelPlan(
        label=name, image=image_name, username=username,
        python_path=str(label.image.get("python-path", "auto")),
        cpus=None if cpus is None else _number(cpus, f"{where}: flavor cpus", float),
        memory_mb=None if memory is None else _number(memory, f"{where}: flavor memory"),
        gpus=_number(gpus, f"{where}: gpus"),
        gpu_model=gpu_model if (gpus or gpu_model) else None,
        tags={str(k): str(v) for k, v in tags.items()})


def _limits(attributes: Mapping[str, Any], where: str) -> Limits:
    limits = Limits()
    configured = attributes.get("resource-limits")
    if configured is not None:
        if not isinstance(configured, Mapping) or set(configured) - set(LIMIT_KEYS):
            raise _permanent(f"{where}: resource-limits takes "
                             f"{', '.join(LIMIT_KEYS)}, not {configured!r}")
        for key, value in configured.items():
            _number(value, f"{where}: resource-limits {key}")
        limits = Limits.from_config(configured)
    if attributes.get("max-servers") is not None:
        servers = _number(attributes["max-servers"], f"{where}: max-servers")
        limits = limits.tightest(Limits(instances=servers))
    return limits


def _public_key(connection: Mapping[str, Any], where: str) -> str:
    path = Path(os.path.expanduser(str(connection.get("public-key", DEFAULT_PUBLIC_KEY))))
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise _permanent(f"{where}: public-key {path} cannot be read: "
                         f"{error.strerror}") from None
    if not re.match(r"^(ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/=]+", text) or "PRIVATE" in text:
        raise _permanent(f"{where}: public-key {path} is not an OpenSSH public key")
    return text


def _string_list(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _permanent(f"{what} must be a list of strings, not {value!r}")
    return tuple(value)


def _configured_settings(connection: Mapping[str, Any], where: str) -> HostSettings:
    network = connection.get("network")
    if network is not None and network not in NETWORKS:
        raise _permanent(f"{where}: network must be one of {', '.join(NETWORKS)} "
                         f"(nodes never share the host's network), not {network!r}")
    ulimits = connection.get("ulimits")
    return HostSettings(
        runtime=connection.get("runtime"),
        cgroup_manager=connection.get("cgroup-manager"),
        ulimits=None if ulimits is None else _string_list(ulimits, f"{where}: ulimits"),
        network=network)


# ---------------------------------------------------------------------------
# the provider


@dataclass
class PodmanProvider:
    """Containers on this host as nodes (see the module)."""

    name: str
    system_id: str
    plans: Mapping[str, LabelPlan]
    offers: Mapping[str, LabelOffer]
    limits: Limits
    podman: Podman
    configured: HostSettings
    host: str
    public_key: str
    cloud_quota: Limits = field(default_factory=Limits)
    gpu_devices: tuple[str, ...] = ()
    launch_timeout: float = 600.0
    boot_timeout: float = 120.0
    launch_attempts: int = 3
    host_key_checking: bool = True
    _settings: HostSettings | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- this host's settings, found once

    def settings(self, image: str) -> HostSettings:
        """The flags that let podman start a container here (tried once, with
        ``image``)."""
        with self._lock:
            if self._settings is None:
                key = (self.podman.binary, self.configured, self.host)
                with _PROBED_LOCK:
                    found = _PROBED.get(key)
                if found is None:
                    found = self._probe(image)
                    with _PROBED_LOCK:
                        _PROBED[key] = found
                self._settings = found
                if self.host == "auto":
                    self.host = self._gateway(found)
            return self._settings

    def _gateway(self, settings: HostSettings) -> str:
        """The host's address on the nodes' bridge network (``host: auto``): builds'
        sandboxes have networks of their own and do not reach the host's
        127.0.0.1, but reach this address as they reach any machine. 127.0.0.1 (and
        a warning) where the network has no gateway (slirp4netns, pasta)."""
        network = settings.network or "podman"
        found = self.podman(settings, "network", "inspect", network, "--format",
                            "{{range .Subnets}}{{.Gateway}}{{end}}", check=False)
        gateway = found.stdout.strip().split()[0] if found.stdout.strip() else ""
        if found.returncode != 0 or not gateway:
            log.warning("provider %s: podman network %r has no gateway address; node SSH "
                        "ports are published on 127.0.0.1, which untrusted playbooks' "
                        "sandboxes cannot reach (set the connection's host)", self.name,
                        network)
            return "127.0.0.1"
        return gateway

    def _probe(self, image: str) -> HostSettings:
        settings = self.configured
        if settings.cgroup_manager is None and not Path("/run/systemd/system").exists():
            settings = replace(settings, cgroup_manager="cgroupfs")
        networks = [n for n in NETWORKS[1:] if self.configured.network is None]
        errors = []
        for _ in range(6):
            error = self._trial(settings, image)
            if error is None:
                return settings
            errors.append(error)
            low = error.lower()
            if "rlimit" in low and self.configured.ulimits is None \
                    and settings.ulimits is None:
                settings = replace(settings, ulimits=host_ulimits())
            elif ("hybrid mode" in low or "cgroup" in low) and \
                    self.configured.runtime is None and settings.runtime != "runc" \
                    and shutil.which("runc"):
                settings = replace(settings, runtime="runc")
            elif ("systemd" in low or "dbus" in low) and \
                    self.configured.cgroup_manager is None \
                    and settings.cgroup_manager != "cgroupfs":
                settings = replace(settings, cgroup_manager="cgroupfs")
            elif any(s in low for s in ("netavark", "iptables", "nftables", "network",
                                        "slirp4netns", "pasta")) and networks:
                settings = replace(settings, network=networks.pop(0))
            else:
                break
        raise ProviderError(
            f"podman cannot start a container of {image} here: {errors[-1]}"
            + (f" (after: {'; '.join(errors[:-1])})" if len(errors) > 1 else "")
            + "; set the connection's runtime, cgroup-manager, ulimits or network",
            # what this host's podman cannot do: not to be retried (next call probes again)
            ErrorKind.QUOTA if classify(errors[-1]) is ErrorKind.QUOTA
            else ErrorKind.PERMANENT)

    def _trial(self, settings: HostSettings, image: str) -> str | None:
        """None if a container of ``image`` can be set up with ``settings`` (its
        runtime's create step, no process started); else podman's error."""
        name = f"zuulish-probe-{uuid.uuid4().hex[:12]}"
        create = self.podman(settings, "create", "--pull", "never", "--name", name,
                             "--publish",  # (the trial publishes on loopback: it never starts)
                             f"{'127.0.0.1' if self.host == 'auto' else self.host}::22",
                             *settings.run_args(),
                             image, check=False)
        try:
            if create.returncode != 0:
                message = _error_text(create)
                if classify(message) is ErrorKind.PERMANENT and "rlimit" not in message:
                    raise _permanent(f"podman create {image}: {message}")
                return message
            init = self.podman(settings, "init", name, check=False)
            return None if init.returncode == 0 else _error_text(init)
        finally:
            self.podman(settings, "rm", "--force", "--ignore", "--time", "0", name,
                        check=False)

    # -- CloudProvider

    def refresh(self) -> None:
        """A label whose image is not in podman's storage gets that as its offer's
        error (the provider's other labels stay usable)."""
        offers = dict(self.offers)
        usable = None
        for plan in self.plans.values():
            found = self.podman(self.configured, "image", "exists", plan.image,
                                check=False)
            if found.returncode == 1:
                offers[plan.label] = replace(offers[plan.label], error=(
                    f"provider {self.name}, label {plan.label}: image {plan.image} is "
                    "not in podman's local storage (nothing is pulled; build it, e.g. "
                    "python -m zuulish.nodepool.podman_image)"))
                continue
            if found.returncode != 0:
                raise ProviderError(f"podman image exists {plan.image}: "
                                    f"{_error_text(found)}")
            offers[plan.label] = replace(offers[plan.label], error=None)
            usable = usable or plan.image
        self.offers = offers
        if usable is not None:
            self.settings(usable)

    def quota(self) -> Limits:
        return self.cloud_quota

    def create(self, label: str, tags: Mapping[str, str]) -> str:
        plan = self.plans.get(label)
        if plan is None:
            raise _permanent(f"provider {self.name} has no label {label!r}")
        settings = self.settings(plan.image)
        name = f"zuulish-{re.sub(r'[^a-zA-Z0-9_.-]', '-', self.name)}-{uuid.uuid4().hex[:12]}"
        devices: tuple[str, ...] = ()
        if plan.gpus:
            # the listing and the run under one lock: two nodes never share a GPU
            with self._lock:
                devices = self._free_gpus(plan)
                return self._run(settings, plan, name, tags, devices)
        return self._run(settings, plan, name, tags, devices)

    def _free_gpus(self, plan: LabelPlan) -> tuple[str, ...]:
        held: set[str] = set()
        for instance in self.instances():
            held.update(d for d in instance.tags.get(GPU_LABEL, "").split(",") if d)
        free = [d for d in self.gpu_devices if d not in held]
        if len(free) < plan.gpus:
            raise ProviderError(f"label {plan.label} needs {plan.gpus} GPUs; no free GPU "
                                f"enough ({len(free)} of {len(self.gpu_devices)} free)",
                                ErrorKind.QUOTA)
        return tuple(free[:plan.gpus])

    def _run(self, settings: HostSettings, plan: LabelPlan, name: str,
             tags: Mapping[str, str], devices: Sequence[str]) -> str:
        args = run_args(plan, name=name, host=self.host, public_key=self.public_key,
                        tags=tags, devices=devices, settings=settings)
        try:
            result = self.podman(settings, *args)
        except ProviderError:
            # podman may have made the container before failing to start it
            self.podman(settings, "rm", "--force", "--ignore", "--time", "0", name,
                        check=False)
            raise
        return result.stdout.strip().splitlines()[-1]

    def status(self, external_id: str) -> Instance:
        settings = self._settings or self.configured
        result = self.podman(settings, "container", "inspect", "--format", "json",
                             external_id, check=False)
        if result.returncode != 0:
            message = _error_text(result)
            if "no such container" in message.lower():
                return Instance(external_id, InstanceState.GONE)
            raise ProviderError(f"podman container inspect: {message}", classify(message))
        data = json.loads(result.stdout)[0]
        state = data.get("State", {})
        tags = dict(data.get("Config", {}).get("Labels") or {})
        status = state.get("Status", "")
        if status in _BUILDING:
            return Instance(external_id, InstanceState.BUILDING, tags)
        if status == "running":
            return self._ready(settings, external_id, data, tags)
        if status in _FAILED:
            return Instance(external_id, InstanceState.FAILED, tags,
                            reason=self._exit_reason(settings, external_id, state))
        return Instance(external_id, InstanceState.GONE, tags, reason=status or None)

    def _ready(self, settings: HostSettings, external_id: str, data: Mapping[str, Any],
               tags: Mapping[str, str]) -> Instance:
        bindings = (data.get("NetworkSettings", {}).get("Ports") or {}).get(SSH_PORT) or []
        if not bindings:
            return Instance(external_id, InstanceState.FAILED, tags,
                            reason="the container's port 22 is not published")
        host_keys = self._host_keys(settings, external_id)
        if not host_keys and RECIPE_LABEL in tags:
            # our image prints its fresh host keys just before sshd starts
            return Instance(external_id, InstanceState.BUILDING, tags)
        port = int(bindings[0]["HostPort"])
        plan = self.plans.get(tags.get("zuulish-label", ""))
        username = plan.username if plan else "zuul"
        host_vars: dict[str, Any] = {"ansible_host": self.host, "ansible_port": port,
                                     "ansible_user": username}
        if plan and plan.python_path != "auto":
            host_vars["ansible_python_interpreter"] = plan.python_path
        return Instance(external_id, InstanceState.READY, tags, hostname=self.host,
                        port=port, host_vars=host_vars, host_keys=host_keys)

    def _host_keys(self, settings: HostSettings, external_id: str) -> tuple[str, ...]:
        """The host keys the container printed when it started (all or none)."""
        logs = self.podman(settings, "logs", external_id, check=False)
        lines = (logs.stdout + "\n" + logs.stderr).splitlines()
        if logs.returncode != 0 or HOST_KEYS_DONE not in lines:
            return ()
        return tuple(line[len(HOST_KEY_LINE):].strip() for line in lines
                     if line.startswith(HOST_KEY_LINE))

    def _exit_reason(self, settings: HostSettings, external_id: str,
                     state: Mapping[str, Any]) -> str:
        status = state.get("Status", "")
        if status in ("exited", "stopped", "stopping"):  # stopped: not cleaned up yet
            reason = f"the container exited with code {state.get('ExitCode')}"
        else:
            reason = f"the container is {status}"
        if state.get("OOMKilled"):
            reason += ", killed for lack of memory"
        if state.get("Error"):
            reason += f": {state['Error']}"
        logs = self.podman(settings, "logs", "--tail", "5", external_id, check=False)
        tail = (logs.stdout + logs.stderr).strip()
        if tail:
            reason += f"; last output: {' | '.join(tail.splitlines()[-5:])}"
        return reason

    def delete(self, external_id: str) -> None:
        self.podman(self._settings or self.configured, "rm", "--force", "--ignore",
                    "--volumes", "--time", "0", external_id)

    def instances(self) -> list[Instance]:
        result = self.podman(self._settings or self.configured, "ps", "--all",
                             "--filter", f"label={TAG_SYSTEM}", "--format", "json")
        found = []
        for item in json.loads(result.stdout or "[]"):
            state = item.get("State", "")
            mapped = (InstanceState.READY if state == "running"
                      else InstanceState.BUILDING if state in _BUILDING
                      else InstanceState.FAILED if state in _FAILED
                      else InstanceState.GONE)
            reason = (f"the container is {state} (exit code {item.get('ExitCode')})"
                      if mapped is InstanceState.FAILED else None)
            found.append(Instance(item["Id"], mapped, dict(item.get("Labels") or {}),
                                  reason=reason))
        return found


def run_args(plan: LabelPlan, *, name: str, host: str, public_key: str,
             tags: Mapping[str, str], devices: Sequence[str],
             settings: HostSettings) -> list[str]:
    """``podman run`` arguments (after the global flags) for one node."""
    args = ["run", "--detach", "--pull", "never", "--name", name,
            "--hostname", name[-63:].strip("-._"),
            "--publish", f"{host}::22",
            "--env", f"ZUULISH_AUTHORIZED_KEYS={public_key}",
            "--env", f"ZUULISH_USER={plan.username}",
            *settings.run_args()]
    if plan.cpus:
        args += ["--cpus", f"{plan.cpus:g}"]
    if plan.memory_mb:
        args += ["--memory", f"{plan.memory_mb}m"]
    for device in devices:
        args += ["--device", device]
    labels = {**plan.tags, **tags, "zuulish-label": plan.label}
    if devices:
        labels[GPU_LABEL] = ",".join(devices)
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    return [*args, plan.image]


# ---------------------------------------------------------------------------
# the driver


def _float(attributes: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value: float = _number(attributes.get(key, default), f"{where}: {key}", float)
    return float(value)


def make(spec: ProviderSpec, system_id: str) -> PodmanProvider:
    """The provider of ``spec`` (no podman call yet)."""
    where = f"provider {spec.name}"
    connection, attributes = spec.connection, spec.attributes
    plans = {name: _label_plan(spec, name) for name in spec.labels}
    gpu_devices = _string_list(connection.get("gpu-devices", []),
                               f"{where}: connection gpu-devices")
    for plan in plans.values():
        if plan.gpus > len(gpu_devices):
            raise _permanent(f"{where}, label {plan.label}: gpus {plan.gpus}, but the "
                             f"connection lists {len(gpu_devices)} gpu-devices "
                             "(CDI names such as nvidia.com/gpu=0)")
    quota = connection.get("quota")
    host = connection.get("host", "auto")
    if not isinstance(host, str) or not host or host in ("0.0.0.0", "::"):
        raise _permanent(f"{where}: connection host must be the address SSH reaches "
                         f"the nodes at, not {host!r}")
    common = common_attributes(attributes)  # checked by the config loader
    return PodmanProvider(
        name=spec.name, system_id=system_id, plans=plans,
        offers={name: LabelOffer(name, plan.resources(), plan.gpu_model,
                                 spec.labels[name].min_ready)
                for name, plan in plans.items()},
        limits=common.limits,
        podman=Podman(str(connection.get("podman", "podman")),
                      _float(connection, "command-timeout", 60.0, where)),
        configured=_configured_settings(connection, where),
        host=host,
        public_key=_public_key(connection, where),
        cloud_quota=_limits({"resource-limits": quota}, f"{where}: connection quota")
        if quota is not None else Limits(),
        gpu_devices=gpu_devices,
        launch_timeout=common.launch_timeout, boot_timeout=common.boot_timeout,
        launch_attempts=common.launch_attempts, host_key_checking=common.host_key_checking)


DRIVER = CloudDriver(
    name="podman",
    provider_keys=PROVIDER_KEYS,
    image_keys=IMAGE_KEYS,
    flavor_keys=FLAVOR_KEYS,
    label_keys=LABEL_KEYS,
    connection_keys=CONNECTION_KEYS,
    make=make,
)
