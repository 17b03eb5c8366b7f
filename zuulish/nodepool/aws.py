"""The ``aws`` driver: nodes are EC2 instances, booted from an AMI with an
instance type, on demand or spot.

The connection (``zuulish.yaml``) holds the credentials::

    connections:
      aws:
        driver: aws
        region-name: us-east-1            # or the provider's ``region``
        access-key-id: AKIA...            # with secret-access-key; else the
        secret-access-key: ...            # profile, or boto3's own lookup
        # profile: zuul                   # a profile of ~/.aws/credentials
        # endpoint-url: http://127.0.0.1:5000   # an EC2-compatible endpoint
        # connect-timeout: 10             # seconds
        # read-timeout: 30

In the config project, images name the AMI (``image-id``, or ``image-filters``:
the newest image that matches), flavors the ``instance-type`` and
``market-type`` (``on-demand``, ``spot``), labels the ``key-name``,
``security-group-id(s)`` and ``subnet-id(s)`` (Zuul's names). ``volume-size``,
``volume-type``, ``iops``, ``throughput`` and ``userdata`` may be set on a
label, its flavor or its image (first found wins, in that order), and the
provider's ``label-defaults``, ``flavor-defaults`` and ``image-defaults``,
then the provider itself, give defaults.

Each instance, and its volumes, carry the caller's tags and ``zuulish-label``
(status needs to know the label's image user and address choice).

``refresh()`` reads each instance type's vCPUs, memory and GPUs (count and
model, from ``GpuInfo``) with ``DescribeInstanceTypes``, and resolves each
image. ``quota()`` reads the account's EC2 vCPU quotas from Service Quotas.
AWS counts vCPUs per class of instance family (standard, G and VT, P...) and
per market, so ``quota()`` gives as ``cores`` the sum of the quotas of the
classes this provider's labels use (a bound that is never too tight), and
``create`` checks the one class the label uses against what runs in the
whole account, refusing with ``QUOTA`` before RunInstances when it would go
over.

An instance that terminates without zuulish (or an operator, through the API)
having asked, for example a spot instance taken back or a boot that ran out
of capacity, is ``FAILED`` with the cloud's state reason; one we or an
operator terminated is ``GONE``.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from zuulish.errors import ConfigError
from zuulish.nodepool.cloud import (
    TAG_NODE,
    TAG_SYSTEM,
    ErrorKind,
    Instance,
    InstanceState,
    LabelOffer,
    LabelSpec,
    ProviderError,
    ProviderSpec,
)
from zuulish.nodepool.common import common_attributes
from zuulish.nodepool.drivers import CloudDriver
from zuulish.nodepool.resources import Limits, Resources

log = logging.getLogger(__name__)

TAG_LABEL = "zuulish-label"

CONNECTION_KEYS = frozenset({"driver", "region-name", "profile", "access-key-id",
                             "secret-access-key", "session-token", "endpoint-url",
                             "connect-timeout", "read-timeout"})
# what a label's boot takes from its label, flavor or image entry (or the defaults)
VOLUME_KEYS = ("volume-size", "volume-type", "iops", "throughput")
LAUNCH_KEYS = (*VOLUME_KEYS, "userdata", "imds-http-tokens")
IMAGE_KEYS = frozenset({"name", "description", "type", "image-id", "image-filters",
                        "username", "python-path", "connection-port", "connection-type",
                        "shell-type", *LAUNCH_KEYS})
FLAVOR_KEYS = frozenset({"name", "description", "instance-type", "market-type",
                         "public-ipv4", *LAUNCH_KEYS})
LABEL_KEYS = frozenset({"key-name", "security-group-id", "security-group-ids", "subnet-id",
                        "subnet-ids", "public-ipv4", "tags", "iam-instance-profile", "az",
                        *LAUNCH_KEYS})
PROVIDER_KEYS = frozenset({"max-servers", "host-key-checking", "label-defaults",
                           "flavor-defaults", "image-defaults", "key-name",
                           "security-group-id", "security-group-ids", "subnet-id",
                           "subnet-ids", "public-ipv4", "tags", *LAUNCH_KEYS})

# instance states listed by instances() (terminated ones are gone)
LIVE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
QUOTA_CODES = frozenset({"InsufficientInstanceCapacity", "InstanceLimitExceeded",
                         "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded",
                         "InsufficientHostCapacity", "InsufficientCapacity",
                         "InsufficientReservedInstanceCapacity", "VolumeLimitExceeded",
                         "ResourceLimitExceeded", "InsufficientFreeAddressesInSubnet"})
TRANSIENT_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded",
                             "InternalError", "InternalFailure", "ServiceUnavailable",
                             "Unavailable", "RequestTimeout", "RequestTimeoutException",
                             "TooManyRequestsException", "SlowDown"})
# a terminated instance whose state reason is this was terminated through the API
USER_TERMINATED = "Client.UserInitiatedShutdown"
QUOTA_CACHE_SECONDS = 300.0
# how long an instance this provider launched counts against its quota though
# DescribeInstances does not list it (EC2's lists are eventually consistent)
LAUNCHED_SECONDS = 120.0
DELETED_KEPT = 10000

# EC2's vCPU quotas (Service Quotas, service "ec2") per class of instance
# family: (on-demand quota code, spot quota code or None, the class's name)
VCPU_QUOTAS = {
    "standard": ("L-1216C47A", "L-34B43A08", "Standard (A, C, D, H, I, M, R, T, Z)"),
    "g": ("L-DB2E81BA", "L-3819A6DF", "G and VT"),
    "p": ("L-417A185B", "L-7212CCBC", "P"),
    "f": ("L-74FC7D96", "L-88CF9481", "F"),
    "inf": ("L-1945791B", "L-B5D1601B", "Inf"),
    "x": ("L-7295265B", "L-E3A00192", "X"),
    "dl": ("L-6E869C2A", "L-85EED4F7", "DL"),
    "trn": ("L-2C3B7624", "L-6B0D517C", "Trn"),
    "u": ("L-43DA4232", None, "High Memory"),
}
# the letters before a family's generation number -> its quota class
FAMILY_CLASSES = {"g": "g", "vt": "g", "p": "p", "f": "f", "inf": "inf", "x": "x",
                  "dl": "dl", "trn": "trn", "u": "u"}

T = TypeVar("T")


def quota_class(instance_type: str) -> str:
    """The vCPU quota class of an instance type (``g5.xlarge`` -> ``g``)."""
    family = instance_type.split(".", 1)[0].lower()
    letters = re.match(r"[a-z]*", family)
    return FAMILY_CLASSES.get(letters.group(0) if letters else "", "standard")


@dataclass(frozen=True)
class TypeInfo:
    """What DescribeInstanceTypes says of one instance type."""

    vcpus: int
    ram_mb: int
    gpus: int = 0
    gpu_model: str | None = None


@dataclass(frozen=True)
class AwsLabel:
    """One label, resolved from its label, flavor and image entries."""

    name: str
    image_name: str
    image_id: str | None
    image_filters: tuple[tuple[str, tuple[str, ...]], ...]
    flavor_name: str
    instance_type: str
    spot: bool
    public_ipv4: bool
    key_name: str | None
    security_group_ids: tuple[str, ...]
    subnet_id: str | None
    username: str
    python_path: str
    port: int
    shell_type: str | None
    volume: Mapping[str, Any]
    userdata: str | None
    imds_http_tokens: str | None
    iam_instance_profile: Mapping[str, str] | None
    az: str | None
    tags: Mapping[str, str] = field(default_factory=dict)
    min_ready: int = 0


class AwsProvider:
    """EC2 instances as nodes (see the module)."""

    def __init__(self, spec: ProviderSpec, system_id: str, labels: Mapping[str, AwsLabel],
                 session_args: Mapping[str, Any], client_args: Mapping[str, Any],
                 limits: Limits, launch_timeout: float, boot_timeout: float,
                 launch_attempts: int, host_key_checking: bool):
        self.name = spec.name
        self.system_id = system_id
        self.labels = dict(labels)
        self.limits = limits
        self.launch_timeout = launch_timeout
        self.boot_timeout = boot_timeout
        self.launch_attempts = launch_attempts
        self.host_key_checking = host_key_checking
        self.offers: Mapping[str, LabelOffer] = {
            name: LabelOffer(name, min_ready=label.min_ready) for name, label in labels.items()}
        self._session_args = dict(session_args)
        self._client_args = dict(client_args)
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._types: dict[str, TypeInfo] = {}
        self._images: dict[str, tuple[str, str]] = {}  # image name -> (AMI id, root device)
        self._quotas: dict[str, float | None] = {}     # quota code -> vCPUs (None: unknown)
        self._quotas_at = 0.0
        self._reserved: dict[str, int] = {}  # quota code -> vCPUs of creates in flight
        # instance id -> (quota code, vCPUs, when) of what this provider launched lately
        self._launched: dict[str, tuple[str, int, float]] = {}
        self._deleted: dict[str, None] = {}  # the latest DELETED_KEPT ids deleted

    # -- the cloud's clients ---------------------------------------------------------

    def _client(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._clients[service] = self._call(
                    f"connect to {service}", lambda: self._make_client(service))
            return client

    def _make_client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        session = boto3.Session(**self._session_args)
        config = Config(region_name=self._client_args["region_name"],
                        connect_timeout=self._client_args["connect_timeout"],
                        read_timeout=self._client_args["read_timeout"],
                        # one retry at most: the launcher decides what to try again
                        retries={"total_max_attempts": 2, "mode": "standard"})
        return session.client(service, endpoint_url=self._client_args.get("endpoint_url"),
                              config=config)

    def _call(self, doing: str, call: Callable[[], T]) -> T:
        """``call()``, its failure as a ProviderError that says what was being done."""
        try:
            return call()
        except ProviderError:
            raise
        except Exception as exc:  # botocore's exceptions, sorted by error_kind
            kind, message = error_kind(exc)
            if kind is None:
                raise
            raise ProviderError(f"aws provider {self.name!r}: {doing}: {message}",
                                kind) from exc

    def _ec2(self) -> Any:
        return self._client("ec2")

    # -- what the configuration names --------------------------------------------------

    def refresh(self) -> None:
        types = sorted({label.instance_type for label in self.labels.values()})
        for instance_type in types:
            self._type_info(instance_type, refresh=True)
        images = {label.image_name: label for label in self.labels.values()}
        for label in images.values():
            self._image(label, refresh=True)
        offers = {}
        for name, label in self.labels.items():
            info = self._types[label.instance_type]
            offers[name] = LabelOffer(
                name, Resources(instances=1, cores=info.vcpus, ram_mb=info.ram_mb,
                                gpus=info.gpus), info.gpu_model, label.min_ready)
        self.offers = offers

    def _type_info(self, instance_type: str, refresh: bool = False) -> TypeInfo:
        with self._lock:
            known = self._types.get(instance_type)
        if known is not None and not refresh:
            return known
        flavors = sorted(label.flavor_name for label in self.labels.values()
                         if label.instance_type == instance_type)
        doing = f"instance type {instance_type!r} (flavor {', '.join(flavors)})"
        try:
            found = self._call(doing, lambda: self._ec2().describe_instance_types(
                InstanceTypes=[instance_type])["InstanceTypes"])
        except ProviderError as exc:
            if cloud_code(exc) not in ("InvalidInstanceType", "InvalidParameterValue"):
                raise
            raise ProviderError(f"{exc} (it does not exist in this region)",
                                ErrorKind.PERMANENT) from exc
        if not found:
            raise ProviderError(f"aws provider {self.name!r}: {doing}: no such instance "
                                "type in this region", ErrorKind.PERMANENT)
        info = type_info(found[0])
        with self._lock:
            self._types[instance_type] = info
        return info

    def _image(self, label: AwsLabel, refresh: bool = False) -> tuple[str, str]:
        """The AMI id and root device name of ``label``'s image."""
        with self._lock:
            known = self._images.get(label.image_name)
        if known is not None and not refresh:
            return known
        doing = f"image {label.image_name!r}"
        if label.image_id:
            doing += f" ({label.image_id})"
            found = self._call(doing, lambda: self._ec2().describe_images(
                ImageIds=[label.image_id])["Images"])
        else:
            filters = [{"Name": name, "Values": list(values)}
                       for name, values in label.image_filters]
            found = self._call(doing, lambda: self._ec2().describe_images(
                Filters=filters)["Images"])
        found = [image for image in found if image.get("State", "available") == "available"]
        if not found:
            raise ProviderError(f"aws provider {self.name!r}: {doing}: no such image "
                                "(or none available) in this region", ErrorKind.PERMANENT)
        newest = max(found, key=lambda image: image.get("CreationDate", ""))
        image = (newest["ImageId"], newest.get("RootDeviceName") or "/dev/xvda")
        with self._lock:
            self._images[label.image_name] = image
        return image

    # -- quotas -------------------------------------------------------------------------

    def _quota_codes(self) -> dict[str, str]:
        """The vCPU quota codes this provider's labels count against, with their names."""
        codes = {}
        for label in self.labels.values():
            code, name = vcpu_quota(label.instance_type, label.spot)
            if code:
                codes[code] = name
        return codes

    def _quota_values(self) -> dict[str, float | None]:
        """Each quota code's value (None: the account has none known), cached a while."""
        with self._lock:
            if time.monotonic() - self._quotas_at < QUOTA_CACHE_SECONDS and self._quotas:
                return dict(self._quotas)
        values: dict[str, float | None] = {}
        for code, name in self._quota_codes().items():
            values[code] = self._read_quota(code, name)
        with self._lock:
            self._quotas = values
            self._quotas_at = time.monotonic()
        return dict(values)

    def _read_quota(self, code: str, name: str) -> float | None:
        """The account's applied value of an EC2 quota, else AWS's default for it
        (None: neither can be read; the cloud then refuses at RunInstances)."""
        client = self._client("service-quotas")
        for ask in ("get_service_quota", "get_aws_default_service_quota"):
            try:
                answer = getattr(client, ask)(ServiceCode="ec2", QuotaCode=code)
            except Exception as exc:
                kind, message = error_kind(exc)
                if kind is None:
                    raise
                if _code(exc) == "NoSuchResourceException" and ask == "get_service_quota":
                    continue  # no applied value: AWS's default is in force
                if _code(exc) or getattr(exc, "response", None):
                    # the service answered, but not with the quota (not ours to read,
                    # not known there): go without it
                    log.info("aws provider %s: vCPU quota %s (%s) unknown: %s",
                             self.name, code, name, message)
                    return None
                raise ProviderError(f"aws provider {self.name!r}: vCPU quota {code} "
                                    f"({name}): {message}", kind) from exc
            value = (answer.get("Quota") or {}).get("Value")
            return float(value) if value is not None else None
        return None

    def quota(self) -> Limits:
        values = self._quota_values()
        if not values or any(value is None for value in values.values()):
            return Limits()
        return Limits(cores=int(sum(value or 0 for value in values.values())))

    def _vcpus_in_use(self, code: str) -> dict[str, int]:
        """The account's running and pending instances counted in ``code``: their
        vCPUs by instance id."""
        used = {}
        for instance in self._describe([{"Name": "instance-state-name",
                                         "Values": ["pending", "running"]}]):
            instance_type = instance.get("InstanceType", "")
            spot = instance.get("InstanceLifecycle") == "spot"
            if vcpu_quota(instance_type, spot)[0] != code:
                continue
            options = instance.get("CpuOptions") or {}
            if options.get("CoreCount"):
                vcpus = options["CoreCount"] * options.get("ThreadsPerCore", 1)
            else:
                vcpus = self._type_info(instance_type).vcpus
            used[instance["InstanceId"]] = vcpus
        return used

    def _reserve(self, label: AwsLabel) -> tuple[str | None, int]:
        """Check the label's vCPU quota class and hold its vCPUs while it is created;
        ProviderError(QUOTA) when it would go over.

        What is in use is what DescribeInstances lists, with the instances this
        provider launched lately (which it may not list yet) and the creates in
        flight, so that creates from several threads cannot pass the check
        together."""
        code, name = vcpu_quota(label.instance_type, label.spot)
        if code is None:
            return None, 0
        limit = self._quota_values().get(code)
        if limit is None:
            return None, 0
        vcpus = self._type_info(label.instance_type).vcpus
        listed = self._vcpus_in_use(code)
        with self._lock:
            now = time.monotonic()
            for instance_id, (_, _, at) in list(self._launched.items()):
                if now - at > LAUNCHED_SECONDS:
                    del self._launched[instance_id]
            recent = {instance_id: count for instance_id, (of, count, _)
                      in self._launched.items() if of == code}
            used = sum({**recent, **listed}.values()) + self._reserved.get(code, 0)
            if used + vcpus > limit:
                market = "spot" if label.spot else "on-demand"
                raise ProviderError(
                    f"aws provider {self.name!r}: label {label.name!r} needs {vcpus} vCPUs "
                    f"of {label.instance_type}, over the account's {market} vCPU quota "
                    f"{code} ({name}): {used} of {int(limit)} in use", ErrorKind.QUOTA)
            self._reserved[code] = self._reserved.get(code, 0) + vcpus
        return code, vcpus

    def _release(self, code: str | None, vcpus: int, instance_id: str | None) -> None:
        """The create holding ``vcpus`` of ``code`` is over (``instance_id``: it
        launched that instance)."""
        if code is None:
            return
        with self._lock:
            self._reserved[code] = self._reserved.get(code, 0) - vcpus
            if instance_id is not None:
                self._launched[instance_id] = (code, vcpus, time.monotonic())

    # -- instances -----------------------------------------------------------------------

    def create(self, label: str, tags: Mapping[str, str]) -> str:
        spec = self.labels.get(label)
        if spec is None:
            raise ProviderError(f"aws provider {self.name!r} has no label {label!r}",
                                ErrorKind.PERMANENT)
        image_id, root_device = self._image(spec)
        code, vcpus = self._reserve(spec)
        instance_id: str | None = None
        try:
            args = launch_args(spec, image_id, root_device, {**tags, TAG_LABEL: label})
            answer = self._call(f"boot label {label!r} ({spec.instance_type})",
                                lambda: self._ec2().run_instances(**args))
            instance_id = str(answer["Instances"][0]["InstanceId"])
        finally:
            self._release(code, vcpus, instance_id)
        log.info("aws provider %s: booting %s for label %s", self.name, instance_id, label)
        return instance_id

    def _describe(self, filters: list[dict[str, Any]] | None = None,
                  ids: list[str] | None = None) -> list[dict[str, Any]]:
        def pages() -> list[dict[str, Any]]:
            paginator = self._ec2().get_paginator("describe_instances")
            args: dict[str, Any] = {}
            if filters:
                args["Filters"] = filters
            if ids:
                args["InstanceIds"] = ids
            return [instance for page in paginator.paginate(**args)
                    for reservation in page.get("Reservations", [])
                    for instance in reservation.get("Instances", [])]
        return self._call("list instances", pages)

    def status(self, external_id: str) -> Instance:
        try:
            found = self._describe(ids=[external_id])
        except ProviderError as exc:
            if cloud_code(exc) == "InvalidInstanceID.NotFound":
                return Instance(external_id, InstanceState.GONE)
            raise
        if not found:
            return Instance(external_id, InstanceState.GONE)
        return self._instance(found[0])

    def _instance(self, data: Mapping[str, Any]) -> Instance:
        instance_id = data["InstanceId"]
        tags = {tag["Key"]: tag["Value"] for tag in data.get("Tags") or []}
        state = (data.get("State") or {}).get("Name", "")
        reason = data.get("StateReason") or {}
        why = reason.get("Message") or reason.get("Code") or data.get("StateTransitionReason")
        if state == "pending":
            return Instance(instance_id, InstanceState.BUILDING, tags)
        if state in ("shutting-down", "terminated"):
            with self._lock:
                ours = instance_id in self._deleted
            if ours or reason.get("Code") == USER_TERMINATED:
                return Instance(instance_id, InstanceState.GONE, tags)
            return Instance(instance_id, InstanceState.FAILED, tags,
                            reason=why or f"the instance is {state}")
        if state in ("stopping", "stopped"):
            return Instance(instance_id, InstanceState.FAILED, tags,
                            reason=why or f"the instance is {state}")
        if state != "running":
            return Instance(instance_id, InstanceState.FAILED, tags,
                            reason=f"unknown instance state {state!r}")
        label = self.labels.get(tags.get(TAG_LABEL, ""))
        address = data.get("PrivateIpAddress") or ""
        if label is not None and label.public_ipv4:
            address = data.get("PublicIpAddress") or address
        if not address:
            return Instance(instance_id, InstanceState.BUILDING, tags)
        port = label.port if label else 22
        host_vars: dict[str, Any] = {"ansible_host": address, "ansible_port": port,
                                     "ansible_user": label.username if label else "zuul"}
        if label is not None and label.python_path != "auto":
            host_vars["ansible_python_interpreter"] = label.python_path
        if label is not None and label.shell_type:
            host_vars["ansible_shell_type"] = label.shell_type
        return Instance(instance_id, InstanceState.READY, tags, hostname=address, port=port,
                        host_vars=host_vars)

    def delete(self, external_id: str) -> None:
        with self._lock:
            self._deleted[external_id] = None
            while len(self._deleted) > DELETED_KEPT:
                del self._deleted[next(iter(self._deleted))]
            self._launched.pop(external_id, None)
        try:
            self._call(f"delete {external_id}", lambda: self._ec2().terminate_instances(
                InstanceIds=[external_id]))
        except ProviderError as exc:
            if cloud_code(exc) == "InvalidInstanceID.NotFound":
                return
            raise
        log.info("aws provider %s: deleting %s", self.name, external_id)

    def instances(self) -> list[Instance]:
        found = self._describe([{"Name": "tag-key", "Values": [TAG_SYSTEM]},
                                {"Name": "instance-state-name", "Values": LIVE_STATES}])
        return [self._instance(data) for data in found]


# -- the cloud's answers -------------------------------------------------------------------

def _code(exc: BaseException | None) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


def cloud_code(error: ProviderError) -> str:
    """The AWS error code behind ``error`` ("" if it was not an AWS error)."""
    return _code(error.__cause__)


def error_kind(exc: BaseException) -> tuple[ErrorKind | None, str]:
    """botocore's exception as an ErrorKind and the cloud's reason (None: not
    botocore's, a bug)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        response = exc.response or {}
        error = response.get("Error") or {}
        code = str(error.get("Code") or "")
        message = str(error.get("Message") or "").strip()
        status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        text = f"{code}: {message}" if message else (code or str(exc))
        if code in QUOTA_CODES:
            return ErrorKind.QUOTA, text
        if code in TRANSIENT_CODES or status >= 500 or (not code and not status):
            return ErrorKind.TRANSIENT, text if code else str(exc)
        return ErrorKind.PERMANENT, text
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError |
                  bx.ProfileNotFound | bx.NoRegionError | bx.InvalidConfigError):
        return ErrorKind.PERMANENT, str(exc)
    if isinstance(exc, bx.HTTPClientError | bx.ConnectionError):
        return ErrorKind.TRANSIENT, str(exc)
    if isinstance(exc, bx.BotoCoreError):
        return ErrorKind.PERMANENT, str(exc)
    return None, str(exc)


def type_info(data: Mapping[str, Any]) -> TypeInfo:
    """One entry of DescribeInstanceTypes' answer, reduced to what a node costs."""
    gpus = (data.get("GpuInfo") or {}).get("Gpus") or []
    count = sum(int(gpu.get("Count") or 0) for gpu in gpus)
    model = None
    if gpus:
        first = gpus[0]
        model = " ".join(part for part in (first.get("Manufacturer"), first.get("Name"))
                         if part) or None
    return TypeInfo(vcpus=int((data.get("VCpuInfo") or {}).get("DefaultVCpus") or 0),
                    ram_mb=int((data.get("MemoryInfo") or {}).get("SizeInMiB") or 0),
                    gpus=count, gpu_model=model if count else None)


def vcpu_quota(instance_type: str, spot: bool) -> tuple[str | None, str]:
    """The vCPU quota code an instance counts against, and its name."""
    on_demand, spot_code, name = VCPU_QUOTAS[quota_class(instance_type)]
    if spot:
        return spot_code, f"All {name} Spot Instance Requests"
    return on_demand, f"Running On-Demand {name} instances"


def launch_args(label: AwsLabel, image_id: str, root_device: str,
                tags: Mapping[str, str]) -> dict[str, Any]:
    """RunInstances' arguments for one node of ``label``."""
    node = tags.get(TAG_NODE)
    name = f"zuulish-{label.name}-{node}" if node else f"zuulish-{label.name}"
    all_tags = {**label.tags, "Name": name, **tags}
    tag_list = [{"Key": key, "Value": str(value)} for key, value in all_tags.items()]
    args: dict[str, Any] = {
        "ImageId": image_id, "InstanceType": label.instance_type,
        "MinCount": 1, "MaxCount": 1,
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tag_list},
                              {"ResourceType": "volume", "Tags": tag_list}],
    }
    if label.key_name:
        args["KeyName"] = label.key_name
    if label.public_ipv4:
        interface: dict[str, Any] = {"DeviceIndex": 0, "AssociatePublicIpAddress": True,
                                     "DeleteOnTermination": True}
        if label.subnet_id:
            interface["SubnetId"] = label.subnet_id
        if label.security_group_ids:
            interface["Groups"] = list(label.security_group_ids)
        args["NetworkInterfaces"] = [interface]
    else:
        if label.subnet_id:
            args["SubnetId"] = label.subnet_id
        if label.security_group_ids:
            args["SecurityGroupIds"] = list(label.security_group_ids)
    if label.volume:
        ebs: dict[str, Any] = {"DeleteOnTermination": True}
        for key, name in (("volume-size", "VolumeSize"), ("volume-type", "VolumeType"),
                          ("iops", "Iops"), ("throughput", "Throughput")):
            if key in label.volume:
                ebs[name] = label.volume[key]
        args["BlockDeviceMappings"] = [{"DeviceName": root_device, "Ebs": ebs}]
    if label.spot:
        args["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "one-time",
                            "InstanceInterruptionBehavior": "terminate"}}
    if label.userdata:
        args["UserData"] = label.userdata
    if label.imds_http_tokens:
        args["MetadataOptions"] = {"HttpTokens": label.imds_http_tokens,
                                   "HttpEndpoint": "enabled"}
    if label.iam_instance_profile:
        args["IamInstanceProfile"] = {key.capitalize(): value for key, value
                                      in label.iam_instance_profile.items()}
    if label.az:
        args["Placement"] = {"AvailabilityZone": label.az}
    return args


# -- the configuration -----------------------------------------------------------------------

class _Reader:
    """Checks values of one provider's configuration, naming where they are."""

    def __init__(self, spec: ProviderSpec):
        self.spec = spec

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"aws provider {self.spec.name!r}: {message}",
                           file=self.spec.source_file, line=self.spec.source_line)

    def typed(self, value: Any, kind: type, where: str, what: str) -> Any:
        """``value`` (None when unset) if it is a ``kind``; ConfigError if not."""
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(f"{where} must be {what}, not {value!r}")
        return value

    def ids(self, value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise self.error(f"{where} must be an id or a list of ids, not {value!r}")


def _label(reader: _Reader, spec: LabelSpec, attributes: Mapping[str, Any]) -> AwsLabel:
    where = f"label {spec.name!r}"
    image, flavor = dict(spec.image), dict(spec.flavor)
    chain = [dict(spec.attributes), flavor, image,
             dict(attributes.get("label-defaults") or {}),
             dict(attributes.get("flavor-defaults") or {}),
             dict(attributes.get("image-defaults") or {}), dict(attributes)]

    def first(key: str) -> Any:
        for entries in chain:
            if entries.get(key) is not None:
                return entries[key]
        return None

    image_name = str(image.get("name") or "")
    flavor_name = str(flavor.get("name") or "")
    if not image_name or not flavor_name:
        raise reader.error(f"{where} needs an image and a flavor")
    image_id = reader.typed(image.get("image-id"), str, f"image {image_name!r} image-id",
                            "an AMI id")
    raw_filters = image.get("image-filters")
    if bool(image_id) == bool(raw_filters):
        raise reader.error(f"image {image_name!r} needs one of 'image-id' or "
                           "'image-filters'")
    filters: list[tuple[str, tuple[str, ...]]] = []
    for entry in raw_filters or []:
        if not isinstance(entry, dict) or set(entry) != {"name", "values"} \
                or not isinstance(entry["name"], str):
            raise reader.error(f"image {image_name!r} image-filters: each entry needs "
                               f"'name' and 'values', not {entry!r}")
        filters.append((entry["name"], reader.ids(entry["values"],
                                                  f"image {image_name!r} image-filters")))
    instance_type = reader.typed(flavor.get("instance-type"), str,
                                 f"flavor {flavor_name!r} instance-type",
                                 "an instance type (e.g. t3.large)")
    if not instance_type:
        raise reader.error(f"flavor {flavor_name!r} needs 'instance-type'")
    market = first("market-type") or "on-demand"
    if market not in ("on-demand", "spot"):
        raise reader.error(f"flavor {flavor_name!r} market-type must be 'on-demand' or "
                           f"'spot', not {market!r}")
    volume: dict[str, Any] = {}
    for key in VOLUME_KEYS:
        value = first(key)
        if value is not None:
            volume[key] = reader.typed(value, str if key == "volume-type" else int,
                                       f"{where} {key}",
                                       "a volume type" if key == "volume-type" else "a number")
    tokens = first("imds-http-tokens")
    if tokens not in (None, "optional", "required"):
        raise reader.error(f"{where} imds-http-tokens must be 'optional' or 'required'")
    profile = first("iam-instance-profile")
    if profile is not None and (not isinstance(profile, dict) or len(profile) != 1
                                or not set(profile) <= {"arn", "name"}):
        raise reader.error(f"{where} iam-instance-profile needs one of 'arn' or 'name'")
    tags = {}
    for entries in reversed(chain):  # the label's own tags win
        value = entries.get("tags")
        if value is None:
            continue
        if not isinstance(value, dict):
            raise reader.error(f"{where} tags must be a mapping")
        tags.update({str(key): str(item) for key, item in value.items()})
    groups = reader.ids(first("security-group-ids"), f"{where} security-group-ids") \
        or reader.ids(first("security-group-id"), f"{where} security-group-id")
    subnets = reader.ids(first("subnet-ids") or first("subnet-id"), f"{where} subnet-id")
    connection_type = first("connection-type") or "ssh"
    if connection_type != "ssh":
        raise reader.error(f"image {image_name!r} connection-type {connection_type!r} is "
                           "not supported (only 'ssh')")
    return AwsLabel(
        name=spec.name, image_name=image_name, image_id=image_id,
        image_filters=tuple(filters), flavor_name=flavor_name, instance_type=instance_type,
        spot=market == "spot",
        public_ipv4=bool(reader.typed(first("public-ipv4"), bool, f"{where} public-ipv4",
                                      "true or false")),
        key_name=reader.typed(first("key-name"), str, f"{where} key-name", "a key pair name"),
        security_group_ids=groups, subnet_id=subnets[0] if subnets else None,
        username=reader.typed(first("username"), str, f"image {image_name!r} username",
                              "a user name") or "zuul",
        python_path=reader.typed(first("python-path"), str, f"{where} python-path",
                                 "a path") or "auto",
        port=reader.typed(first("connection-port"), int, f"{where} connection-port",
                          "a port number") or 22,
        shell_type=reader.typed(first("shell-type"), str, f"{where} shell-type", "a shell"),
        volume=volume,
        userdata=reader.typed(first("userdata"), str, f"{where} userdata", "text"),
        imds_http_tokens=tokens, iam_instance_profile=profile,
        az=reader.typed(first("az"), str, f"{where} az", "an availability zone"),
        tags=tags, min_ready=spec.min_ready)


def _number(reader: _Reader, value: Any, where: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise reader.error(f"{where} must be a positive number of seconds, not {value!r}")
    return float(value)


def make(spec: ProviderSpec, system_id: str) -> AwsProvider:
    """The provider of ``spec`` (no call to the cloud)."""
    reader = _Reader(spec)
    if importlib.util.find_spec("boto3") is None:
        raise reader.error("the aws driver needs boto3: pip install 'zuulish[aws]'")
    attributes = dict(spec.attributes)
    connection = dict(spec.connection)
    unknown = set(connection) - CONNECTION_KEYS
    if unknown:
        raise reader.error(f"unknown connection option(s) {', '.join(sorted(unknown))}; "
                           f"known: {', '.join(sorted(CONNECTION_KEYS - {'driver'}))}")
    region = attributes.get("region") or connection.get("region-name")
    if not isinstance(region, str) or not region:
        raise reader.error("needs a 'region' (or 'region-name' on its connection)")
    key_id, secret = connection.get("access-key-id"), connection.get("secret-access-key")
    if bool(key_id) != bool(secret):
        raise reader.error("the connection needs both 'access-key-id' and "
                           "'secret-access-key', or neither")
    session_args = {"aws_access_key_id": key_id, "aws_secret_access_key": secret,
                    "aws_session_token": connection.get("session-token"),
                    "profile_name": connection.get("profile"), "region_name": region}
    client_args = {
        "region_name": region, "endpoint_url": connection.get("endpoint-url"),
        "connect_timeout": _number(reader, connection.get("connect-timeout"),
                                   "connection connect-timeout", 10.0),
        "read_timeout": _number(reader, connection.get("read-timeout"),
                                "connection read-timeout", 30.0),
    }
    labels = {name: _label(reader, label, attributes) for name, label in spec.labels.items()}
    common = common_attributes(attributes)  # checked by the config loader
    return AwsProvider(
        spec, system_id, labels, session_args, client_args, common.limits,
        launch_timeout=common.launch_timeout, boot_timeout=common.boot_timeout,
        launch_attempts=common.launch_attempts, host_key_checking=common.host_key_checking)


DRIVER = CloudDriver(
    name="aws",
    provider_keys=PROVIDER_KEYS,
    image_keys=IMAGE_KEYS,
    flavor_keys=FLAVOR_KEYS,
    label_keys=LABEL_KEYS,
    connection_keys=CONNECTION_KEYS - {"driver"},
    make=make,
)
