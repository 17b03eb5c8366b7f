"""Podman providers over real containers of the locally built node image, each
test with a system id of its own; at its end no container of that id is left."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.podman_image import podman_node_image  # noqa: F401
from zuulish.nodepool.cloud import TAG_NODE, TAG_PROVIDER, TAG_SYSTEM, LabelSpec, ProviderSpec
from zuulish.nodepool.podman import PodmanProvider, make

MakeProvider = Callable[..., PodmanProvider]


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private key (``.pub`` beside it) that the nodes authorize."""
    key = tmp_path_factory.mktemp("podman-key") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True)
    return key


def podman_spec(image: str, key: Path, *, connection: dict[str, Any] | None = None,
                image_attrs: dict[str, Any] | None = None,
                flavor: dict[str, Any] | None = None,
                label_attrs: dict[str, Any] | None = None,
                attributes: dict[str, Any] | None = None) -> ProviderSpec:
    """A provider ``pod`` with one label ``debian``."""
    return ProviderSpec(
        name="pod", driver="podman",
        connection={"public-key": f"{key}.pub", **(connection or {})},
        attributes=attributes or {},
        labels={"debian": LabelSpec(
            "debian", label_attrs or {},
            {"name": "bookworm", "image-name": image, **(image_attrs or {})},
            flavor if flavor is not None else {"name": "small", "cpus": 1,
                                               "memory": 512})})


def containers_of(system_id: str) -> list[dict[str, Any]]:
    out = subprocess.run(["podman", "ps", "--all", "--filter",
                          f"label={TAG_SYSTEM}={system_id}", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]")


@pytest.fixture
def system_id() -> Iterator[str]:
    """This test's system id; no container carrying it may outlive the test."""
    sid = f"test-{uuid.uuid4().hex[:10]}"
    yield sid
    left = containers_of(sid)
    for container in left:
        subprocess.run(["podman", "rm", "--force", "--time", "0", container["Id"]],
                       capture_output=True)
    assert left == [], f"containers leaked: {[c['Names'] for c in left]}"


@pytest.fixture
def make_provider(podman_node_image: str, ssh_key: Path,  # noqa: F811
                  system_id: str) -> MakeProvider:
    def factory(**kwargs: Any) -> PodmanProvider:
        image = kwargs.pop("image", podman_node_image)
        return make(podman_spec(image, ssh_key, **kwargs), system_id)
    return factory


@pytest.fixture
def tags(system_id: str) -> Callable[[str], dict[str, str]]:
    def node_tags(node: str) -> dict[str, str]:
        return {TAG_SYSTEM: system_id, TAG_PROVIDER: "pod", TAG_NODE: node}
    return node_tags
