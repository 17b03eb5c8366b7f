"""config-examples/aws: every key it uses is one the aws driver accepts, and its
provider builds (resolved here as Zuul resolves sections: parent first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from zuulish.nodepool import drivers
from zuulish.nodepool.aws import AwsProvider
from zuulish.nodepool.cloud import LabelSpec, ProviderSpec
from zuulish.nodepool.resources import Limits

EXAMPLE = Path(__file__).resolve().parents[3] / "config-examples" / "aws"
STRUCTURE = {"name", "parent", "abstract", "connection", "description", "labels", "images",
             "flavors", "section"}
COMMON = {"region", "launch-timeout", "launch-attempts", "boot-timeout", "resource-limits"}


def objects(kind: str) -> dict[str, dict[str, Any]]:
    found = yaml.safe_load((EXAMPLE / "zuul.d" / "nodes.yaml").read_text())
    return {item[kind]["name"]: item[kind] for item in found if kind in item}


def resolve(provider: dict[str, Any]) -> ProviderSpec:
    sections = objects("section")
    chain, name = [], provider["section"]
    while name:
        chain.insert(0, sections[name])
        name = sections[name].get("parent")
    chain.append(provider)
    attributes: dict[str, Any] = {}
    entries: dict[str, dict[str, dict[str, Any]]] = {"images": {}, "flavors": {}, "labels": {}}
    connection = None
    for part in chain:
        attributes.update({k: v for k, v in part.items() if k not in STRUCTURE})
        connection = part.get("connection", connection)
        for key, known in entries.items():
            for entry in part.get(key, []):
                known.setdefault(entry["name"], {}).update(entry)
    server = yaml.safe_load((EXAMPLE / "zuulish.yaml").read_text())
    labels = {}
    for name, own in entries["labels"].items():
        label = objects("label")[name]
        labels[name] = LabelSpec(
            name, {k: v for k, v in own.items() if k != "name"},
            entries["images"][label["image"]], entries["flavors"][label["flavor"]],
            label.get("min-ready", 0))
    options = {k: v for k, v in server["connections"][connection].items() if k != "driver"}
    return ProviderSpec(provider["name"], "aws", options, attributes, labels)


def test_the_example_uses_only_keys_the_driver_accepts() -> None:
    driver = drivers.driver("aws")
    for provider in objects("provider").values():
        spec = resolve(provider)
        assert set(spec.connection) <= driver.connection_keys
        assert set(spec.attributes) <= driver.provider_keys | COMMON
        for label in spec.labels.values():
            assert set(label.attributes) <= driver.label_keys
            assert set(label.image) <= driver.image_keys
            assert set(label.flavor) <= driver.flavor_keys
        for section in objects("section").values():
            defaults = section.get("label-defaults", {})
            assert set(defaults) <= driver.label_keys


def test_the_example_provider_builds_its_three_labels() -> None:
    spec = resolve(objects("provider")["aws-us-east-1"])
    provider = drivers.driver("aws").make(spec, "example")
    assert isinstance(provider, AwsProvider)
    assert provider.limits == Limits(instances=20, cores=96, gpus=4)
    assert provider.offers["ubuntu-noble"].min_ready == 1
    gpu, spot = provider.labels["ubuntu-noble-gpu"], provider.labels["ubuntu-noble-spot"]
    assert (gpu.instance_type, gpu.spot, spot.spot) == ("g5.xlarge", False, True)
    assert (spot.key_name, spot.subnet_id, spot.username) == (
        "zuul", "subnet-0123456789abcdef0", "ubuntu")
    assert spot.security_group_ids == ("sg-0123456789abcdef0",)
    assert gpu.volume == {"volume-size": 200, "volume-type": "gp3"}
    assert gpu.tags == {"team": "ci"}
