"""config-examples/openstack-gpu against the fake cloud: every key it uses is one the
driver lists, and its provider, resolved as Zuul 14 resolves sections (a small
resolver here: the real one is the configuration loader's), offers the GPU and
bare metal labels it promises and boots them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.nodepool_openstack.conftest import SYSTEM
from tests.unit.nodepool_openstack.test_provider import TAGS, ready
from zuulish.nodepool.cloud import InstanceState, LabelSpec, ProviderSpec
from zuulish.nodepool.openstack import DRIVER
from zuulish.nodepool.resources import Limits, Resources

pytestmark = pytest.mark.filterwarnings(
    "ignore::openstack.warnings.OpenStackDeprecationWarning",
    "ignore::openstack.warnings.RemovedInSDK50Warning",
    "ignore::openstack.warnings.RemovedInSDK60Warning")

EXAMPLE = Path(__file__).parents[3] / "config-examples" / "openstack-gpu"
STRUCTURE = {"name", "parent", "abstract", "section", "connection", "images", "flavors",
             "labels"}
COMMON = {"region", "launch-timeout", "boot-timeout", "launch-attempts", "resource-limits",
          "host-key-checking"}


def _objects(kind: str) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted((EXAMPLE / "zuul.d").glob("*.yaml")):
        for item in yaml.safe_load(path.read_text()):
            if kind in item:
                found[item[kind]["name"]] = item[kind]
    return found


def _resolve(provider_name: str, connection: dict[str, Any]) -> ProviderSpec:
    sections, labels = _objects("section"), _objects("label")
    provider = _objects("provider")[provider_name]
    chain: list[dict[str, Any]] = []
    name = provider.get("section")
    while name:
        chain.insert(0, sections[name])
        name = sections[name].get("parent")
    attributes: dict[str, Any] = {}
    images: dict[str, dict[str, Any]] = {}
    flavors: dict[str, dict[str, Any]] = {}
    for body in [*chain, provider]:
        attributes.update({k: v for k, v in body.items() if k not in STRUCTURE})
        images.update({i["name"]: i for i in body.get("images", [])})
        flavors.update({f["name"]: f for f in body.get("flavors", [])})
    specs = {}
    for entry in provider["labels"]:
        obj = labels[entry["name"]]
        specs[obj["name"]] = LabelSpec(obj["name"], {k: v for k, v in entry.items()
                                                     if k != "name"},
                                       images[obj["image"]], flavors[obj["flavor"]],
                                       obj.get("min-ready", 0))
    return ProviderSpec(provider_name, "openstack", connection, attributes, specs)


def test_every_key_of_the_example_is_the_drivers():
    zuulish = yaml.safe_load((EXAMPLE / "zuulish.yaml").read_text())
    assert set(zuulish["connections"]["openstack"]) <= DRIVER.connection_keys
    for body in [*_objects("section").values(), *_objects("provider").values()]:
        assert set(body) - STRUCTURE - COMMON <= DRIVER.provider_keys, body["name"]
        for image in body.get("images", []):
            assert set(image) <= DRIVER.image_keys
        for flavor in body.get("flavors", []):
            assert set(flavor) <= DRIVER.flavor_keys
        for label in body.get("labels", []):
            assert set(label) - {"name"} <= DRIVER.label_keys


def test_the_example_provider_offers_and_boots_its_labels(cloud, tmp_path):
    cloud.add_image("ubuntu-24.04")
    cloud.add_network("ci-private", "10.1.0.0/24")
    cloud.add_flavor("m1.large", 4, 8192, 40)
    cloud.add_flavor("g1.a10-24q", 8, 32768, 0, extra_specs={"resources:VGPU": "1"})
    cloud.add_flavor("p1.a100x2", 32, 262144, 200,
                     extra_specs={"pci_passthrough:alias": "a100:2"})
    cloud.add_flavor("bm.h100x8", 96, 1048576, 1800, extra_specs={
        "resources:CUSTOM_BAREMETAL_GPU_H100": "1", "resources:VCPU": "0",
        "resources:MEMORY_MB": "0", "resources:DISK_GB": "0"})
    cloud.set_quota(cores=-1, ram=-1)
    clouds = tmp_path / "clouds.yaml"
    example = yaml.safe_load((EXAMPLE / "clouds.yaml").read_text())
    example["clouds"]["gpucloud"]["auth"].update(auth_url=cloud.auth_url, password="secret",
                                                 project_name="demo")
    clouds.write_text(yaml.safe_dump(example))
    connection = dict(yaml.safe_load((EXAMPLE / "zuulish.yaml").read_text())
                      ["connections"]["openstack"], client_config_file=str(clouds))
    p = DRIVER.make(_resolve("gpucloud-regionone", connection), SYSTEM)
    try:
        assert p.limits == Limits(instances=40, cores=512, gpus=24)
        assert p.launch_timeout == 900
        p.refresh()
        o = p.offers
        assert o["ubuntu-noble"].resources == Resources(1, 4, 8192, 0)
        assert o["ubuntu-noble"].min_ready == 2
        assert (o["ubuntu-noble-vgpu"].resources.gpus, o["ubuntu-noble-vgpu"].gpu_model) == \
            (1, "nvidia-a10")
        assert (o["ubuntu-noble-a100x2"].resources.gpus,
                o["ubuntu-noble-a100x2"].gpu_model) == (2, "a100")
        metal = o["ubuntu-noble-metal-h100"]
        assert (metal.resources.gpus, metal.gpu_model, metal.baremetal) == \
            (8, "nvidia-h100", "CUSTOM_BAREMETAL_GPU_H100")
        vgpu, bm = p.create("ubuntu-noble-vgpu", TAGS), p.create("ubuntu-noble-metal-h100",
                                                                  TAGS)
        assert cloud.servers[vgpu].image_id == ""  # booted from a 100 GiB volume
        seen_vgpu, seen_bm = ready(p, vgpu), ready(p, bm)
        assert seen_vgpu.hostname.startswith("172.24.4.")  # a floating IP
        assert seen_bm.hostname.startswith("10.1.0.")      # public-ipv4: false
        assert seen_bm.host_vars["ansible_user"] == "ubuntu"
        assert seen_bm.state == InstanceState.READY
        assert cloud.servers[bm].security_groups == ["zuul-ssh"]
        for sid in (vgpu, bm):
            p.delete(sid)
        assert cloud.servers == {} and cloud.floating_ips == {}
    finally:
        p.close()
