"""The openstack provider's configuration: the keys it accepts where (connection,
provider or section, label, flavor and image entries), checked, and what each label's
server is to be (a :class:`LabelPlan`). Errors are ConfigErrors naming the provider
and the key, at the provider's file and line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zuulish.errors import ConfigError
from zuulish.nodepool.cloud import LabelSpec, ProviderSpec
from zuulish.nodepool.common import common_attributes
from zuulish.nodepool.resources import Limits

DEFAULT_API_TIMEOUT = 60.0
ADDRESS_KINDS = ("public-ipv4", "private-ipv4", "public-ipv6", "private-ipv6")

CONNECTION_KEYS = frozenset({
    "driver", "cloud", "client_config_file", "rate", "region-name", "auth-url", "username",
    "password", "project-name", "project-id", "user-domain-name", "project-domain-name",
    "application-credential-id", "application-credential-secret", "api-timeout", "cacert",
    "verify"})

# where each may be given: provider/section (P), label entry (L), flavor (F), image (I)
NODE_KEYS = {"networks": "PL", "key-name": "PL", "security-groups": "PL", "az": "PL",
             "userdata": "PLFI", "config-drive": "PLI", "boot-from-volume": "PLF",
             "volume-size": "PLFI", "public-ipv4": "PLF", "floating-ip": "PL",
             "address-preference": "PL"}
PROVIDER_KEYS = frozenset({*(k for k, w in NODE_KEYS.items() if "P" in w),
                           "floating-network", "floating-ip-cleanup", "max-servers"})
LABEL_KEYS = frozenset({*(k for k, w in NODE_KEYS.items() if "L" in w), "gpus", "gpu-model"})
FLAVOR_KEYS = frozenset({*(k for k, w in NODE_KEYS.items() if "F" in w), "name",
                         "description", "flavor-name"})
IMAGE_KEYS = frozenset({*(k for k, w in NODE_KEYS.items() if "I" in w), "name",
                        "description", "image-id", "image-name", "username", "python-path",
                        "connection-port"})


def config_error(spec: ProviderSpec, message: str) -> ConfigError:
    return ConfigError(f"provider {spec.name!r}: {message}", file=spec.source_file,
                       line=spec.source_line)


def number(spec: ProviderSpec, key: str, value: Any, default: float, *,
           integer: bool = False) -> Any:
    if value is None:
        return int(default) if integer else float(default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
            or (integer and not isinstance(value, int)):
        kind = "a whole number" if integer else "a number"
        raise config_error(spec, f"{key!r} must be {kind} above 0, not {value!r}")
    return value


def boolean(spec: ProviderSpec, key: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise config_error(spec, f"{key!r} must be true or false, not {value!r}")
    return value


def names(spec: ProviderSpec, key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise config_error(spec, f"{key!r} must be a name or a list of names, not {value!r}")


def node_option(spec: ProviderSpec, label: LabelSpec, key: str, default: Any = None) -> Any:
    """A node attribute: the label's, else the flavor's, the image's, the provider's."""
    where = NODE_KEYS[key]
    for code, source in (("L", label.attributes), ("F", label.flavor), ("I", label.image),
                         ("P", spec.attributes)):
        if code in where and source.get(key) is not None:
            return source[key]
    return default


@dataclass(frozen=True)
class LabelPlan:
    """A label's server, as configured (checked when the provider is made)."""

    flavor: str
    image_id: str | None
    image_name: str | None
    networks: tuple[str, ...]
    key_name: str | None
    security_groups: tuple[str, ...]
    az: str | None
    userdata: str | None
    config_drive: bool | None
    boot_from_volume: bool
    volume_size: int | None
    public_ipv4: bool
    floating_ip: str  # "auto" | "always" | "never"
    address_preference: tuple[str, ...]
    username: str
    python_path: str
    port: int
    gpus: int | None
    gpu_model: str | None


def plan(spec: ProviderSpec, label: LabelSpec) -> LabelPlan:
    def opt(key: str, default: Any = None) -> Any:
        return node_option(spec, label, key, default)

    where = f"label {label.name!r}"
    flavor = label.flavor.get("flavor-name") or label.flavor.get("name")
    if not isinstance(flavor, str) or not flavor:
        raise config_error(spec, f"{where} has no flavor ('flavor-name' or 'name')")
    image_id, image_name = label.image.get("image-id"), label.image.get("image-name")
    if image_id and image_name:
        raise config_error(spec, f"{where}: its image has both 'image-id' and 'image-name'")
    if not image_id and not image_name:
        image_name = label.image.get("name")
    if not (image_id or image_name):
        raise config_error(spec, f"{where} has no image ('image-id', 'image-name' or 'name')")
    floating = opt("floating-ip", "auto")
    floating = {True: "always", False: "never", "auto": "auto"}.get(floating)
    if floating is None:
        raise config_error(spec, f"{where}: 'floating-ip' must be true, false or auto, not "
                                 f"{opt('floating-ip')!r}")
    preference = names(spec, "address-preference", opt("address-preference")) \
        or list(ADDRESS_KINDS)
    unknown = [p for p in preference if p not in ADDRESS_KINDS]
    if unknown:
        raise config_error(spec, f"{where}: 'address-preference' has {unknown[0]!r}; known: "
                                 f"{', '.join(ADDRESS_KINDS)}")
    volume_size = opt("volume-size")
    if volume_size is not None:
        volume_size = number(spec, "volume-size", volume_size, 0, integer=True)
    gpus = label.attributes.get("gpus")
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0):
        raise config_error(spec, f"{where}: 'gpus' must be a whole number, not {gpus!r}")
    gpu_model = label.attributes.get("gpu-model")
    if gpu_model is not None and not isinstance(gpu_model, str):
        raise config_error(spec, f"{where}: 'gpu-model' must be a string")
    userdata = opt("userdata")
    if userdata is not None and not isinstance(userdata, str):
        raise config_error(spec, f"{where}: 'userdata' must be a string")
    key_name = opt("key-name")
    if key_name is not None and not isinstance(key_name, str):
        raise config_error(spec, f"{where}: 'key-name' must be a string")
    az = opt("az")
    if az is not None and not isinstance(az, str):
        raise config_error(spec, f"{where}: 'az' must be a string")
    return LabelPlan(
        flavor=flavor, image_id=image_id, image_name=image_name,
        networks=tuple(names(spec, "networks", opt("networks"))),
        key_name=key_name,
        security_groups=tuple(names(spec, "security-groups", opt("security-groups"))),
        az=az, userdata=userdata,
        config_drive=None if opt("config-drive") is None
        else boolean(spec, "config-drive", opt("config-drive"), False),
        boot_from_volume=boolean(spec, "boot-from-volume", opt("boot-from-volume"), False),
        volume_size=volume_size,
        public_ipv4=boolean(spec, "public-ipv4", opt("public-ipv4"), False),
        floating_ip=floating, address_preference=tuple(preference),
        username=str(label.image.get("username") or "zuul"),
        python_path=str(label.image.get("python-path") or "auto"),
        port=number(spec, "connection-port", label.image.get("connection-port"), 22,
                    integer=True),
        gpus=gpus, gpu_model=gpu_model)


def connection_args(spec: ProviderSpec) -> dict[str, Any]:
    """openstacksdk's Connection arguments from the connection's options."""
    c = spec.connection
    unknown = sorted(set(c) - CONNECTION_KEYS)
    if unknown:
        raise config_error(spec, f"its connection has no option {unknown[0]!r}; known: "
                                 f"{', '.join(sorted(CONNECTION_KEYS))}")
    region = spec.attributes.get("region") or c.get("region-name")
    timeout = number(spec, "api-timeout", c.get("api-timeout"), DEFAULT_API_TIMEOUT)
    args: dict[str, Any] = {"api_timeout": timeout}
    if region:
        args["region_name"] = str(region)
    if c.get("rate") is not None:
        args["rate_limit"] = number(spec, "rate", c.get("rate"), 2)
    if c.get("cacert"):
        args["cacert"] = str(c["cacert"])
    if c.get("verify") is not None:
        args["verify"] = boolean(spec, "verify", c.get("verify"), True)
    if c.get("cloud"):
        args["cloud"] = str(c["cloud"])
        if c.get("client_config_file"):
            args["config_files"] = [str(c["client_config_file"])]
        return args
    if not c.get("auth-url"):
        raise config_error(spec, "its connection needs 'cloud' (a clouds.yaml entry) or "
                                 "'auth-url' and credentials")
    args["auth_url"] = str(c["auth-url"])
    if c.get("application-credential-id"):
        args["auth_type"] = "v3applicationcredential"
        args["application_credential_id"] = str(c["application-credential-id"])
        args["application_credential_secret"] = str(c.get("application-credential-secret")
                                                    or "")
        return args
    for key in ("username", "password", "project-name", "project-id", "user-domain-name",
                "project-domain-name"):
        if c.get(key) is not None:
            args[key.replace("-", "_")] = str(c[key])
    return args


@dataclass(frozen=True)
class Settings:
    """A provider's own settings (the common ones and the floating IP ones)."""

    launch_timeout: float
    boot_timeout: float
    launch_attempts: int
    host_key_checking: bool
    limits: Limits
    floating_ip_cleanup: bool
    floating_network: str | None


def settings(spec: ProviderSpec) -> Settings:
    a = spec.attributes
    network = a.get("floating-network")
    if network is not None and not isinstance(network, str):
        raise config_error(spec, "'floating-network' must be a network's name or id")
    common = common_attributes(a)  # checked by the config loader
    return Settings(
        launch_timeout=common.launch_timeout, boot_timeout=common.boot_timeout,
        launch_attempts=common.launch_attempts, host_key_checking=common.host_key_checking,
        limits=common.limits,
        floating_ip_cleanup=boolean(spec, "floating-ip-cleanup",
                                    a.get("floating-ip-cleanup"), False),
        floating_network=network)
