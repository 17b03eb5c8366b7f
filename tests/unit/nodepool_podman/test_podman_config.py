"""The podman driver's configuration: resources, limits and quota, and each bad
value refused naming its key (no podman needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.nodepool_podman.conftest import podman_spec
from zuulish.nodepool.cloud import ErrorKind, ProviderError
from zuulish.nodepool.drivers import driver
from zuulish.nodepool.podman import HostSettings, make, run_args
from zuulish.nodepool.resources import Limits, Resources


def test_limits_and_quota_come_from_configuration(ssh_key: Path) -> None:
    plain = make(podman_spec("localhost/x", ssh_key), "sys")
    assert plain.quota() == Limits() and plain.limits == Limits()
    configured = make(podman_spec(
        "localhost/x", ssh_key,
        connection={"quota": {"instances": 8, "cores": 16, "ram": 32768}},
        attributes={"resource-limits": {"instances": 6, "gpus": 0}, "max-servers": 4,
                    "launch-timeout": 30, "boot-timeout": 20, "launch-attempts": 2,
                    "host-key-checking": False}), "sys")
    assert configured.quota() == Limits(instances=8, cores=16, ram_mb=32768)
    assert configured.limits == Limits(instances=4, gpus=0)
    assert (configured.launch_timeout, configured.boot_timeout,
            configured.launch_attempts, configured.host_key_checking) == (30, 20, 2, False)


@pytest.mark.parametrize("change, complaint", [
    ({"connection": {"public-key": "/nonexistent/key.pub"}},
     "public-key /nonexistent/key.pub cannot be read"),
    ({"connection": {"network": "host"}}, "never share the host's network"),
    ({"connection": {"host": "0.0.0.0"}}, "connection host must be the address"),
    ({"connection": {"ulimits": "nofile=1"}}, "ulimits must be a list of strings"),
    ({"label_attrs": {"gpus": 2}}, "gpus 2, but the connection lists 0 gpu-devices"),
    ({"flavor": {"name": "x", "cpus": "two"}}, "flavor cpus must be a non-negative number"),
    ({"image_attrs": {"username": "Bad User"}}, "is not a user name"),
])
def test_bad_configuration_is_refused_naming_the_key(ssh_key: Path, change: dict,
                                                     complaint: str) -> None:
    with pytest.raises(ProviderError) as raised:
        make(podman_spec("localhost/x", ssh_key, **change), "sys")
    assert raised.value.kind is ErrorKind.PERMANENT
    assert complaint in str(raised.value)
    assert "provider pod" in str(raised.value)


def test_the_driver_is_registered_with_its_keys() -> None:
    podman = driver("podman")
    assert podman.make is make
    assert {"image-name", "username", "python-path"} <= podman.image_keys
    assert podman.flavor_keys == {"cpus", "memory"}
    assert podman.label_keys == {"gpus", "gpu-model"}
    assert {"podman", "runtime", "cgroup-manager", "host", "public-key"} \
        <= podman.connection_keys


def test_run_arguments_carry_the_flavor_gpus_tags_and_host_settings(ssh_key: Path) -> None:
    provider = make(podman_spec(
        "localhost/node:1", ssh_key,
        connection={"gpu-devices": ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]},
        label_attrs={"gpus": 2, "gpu-model": "nvidia-h100", "tags": {"team": "ml"}},
        flavor={"name": "big", "cpus": 2.5, "memory": 4096}), "sys")
    offer = provider.offers["debian"]
    assert offer.resources == Resources(instances=1, cores=3, ram_mb=4096, gpus=2)
    assert offer.gpu_model == "nvidia-h100"
    settings = HostSettings(runtime="runc", cgroup_manager="cgroupfs",
                            ulimits=("nofile=1024:1024",), network="pasta")
    assert settings.global_args() == ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]
    args = run_args(provider.plans["debian"], name="zuulish-pod-1", host="127.0.0.2",
                    public_key="ssh-ed25519 AAAA", tags={"zuulish-system": "sys"},
                    devices=("nvidia.com/gpu=0", "nvidia.com/gpu=1"), settings=settings)
    pairs = list(zip(args, args[1:], strict=False))
    for pair in [("--pull", "never"), ("--publish", "127.0.0.2::22"),
                 ("--cpus", "2.5"), ("--memory", "4096m"),
                 ("--ulimit", "nofile=1024:1024"), ("--network", "pasta"),
                 ("--device", "nvidia.com/gpu=0"), ("--device", "nvidia.com/gpu=1"),
                 ("--label", "zuulish-system=sys"), ("--label", "team=ml"),
                 ("--label", "zuulish-gpu-devices=nvidia.com/gpu=0,nvidia.com/gpu=1"),
                 ("--env", "ZUULISH_AUTHORIZED_KEYS=ssh-ed25519 AAAA"),
                 ("--env", "ZUULISH_USER=zuul")]:
        assert pair in pairs, pair
    assert args[-1] == "localhost/node:1" and "host" not in args
