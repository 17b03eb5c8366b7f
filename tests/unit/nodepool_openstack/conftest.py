"""The fake OpenStack cloud, and openstack providers (unmodified openstacksdk) on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.openstack import FakeOpenStack
from zuulish.nodepool.cloud import LabelSpec, ProviderSpec
from zuulish.nodepool.openstack import DRIVER, OpenStackProvider

SYSTEM = "zuulish-test"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB8rJkhvZ9u1dBm1tBzSpV8Dm3jyqAxnKx9Ayk9hY9xE"


@pytest.fixture
def cloud() -> Iterator[FakeOpenStack]:
    fake = FakeOpenStack()
    fake.add_flavor("m1.small", 2, 2048, 20)
    fake.add_image("ubuntu-noble")
    fake.add_keypair("zuul", PUBLIC_KEY)
    yield fake
    fake.close()
    assert fake.bugs == [], "the fake cloud failed on its own:\n" + "\n".join(fake.bugs)


def connection(cloud: FakeOpenStack, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "driver": "openstack", "auth-url": cloud.auth_url, "username": "zuul",
        "password": "secret", "project-name": "demo", "user-domain-name": "Default",
        "project-domain-name": "Default", "region-name": "RegionOne", "api-timeout": 10}
    options.update(overrides)
    return {k: v for k, v in options.items() if v is not None}


def label(name: str = "small", *, image: dict[str, Any] | None = None,
          flavor: dict[str, Any] | None = None, min_ready: int = 0,
          **attributes: Any) -> LabelSpec:
    return LabelSpec(name, attributes, image or {"name": "ubuntu-noble"},
                     flavor or {"name": "m1.small"}, min_ready)


@pytest.fixture
def provider(cloud: FakeOpenStack) -> Iterator[Callable[..., OpenStackProvider]]:
    """``provider(labels=[...], connection={...}, **attributes)``; closed at the end."""
    made: list[OpenStackProvider] = []

    def make(labels: list[LabelSpec] | None = None, conn: dict[str, Any] | None = None,
             **attributes: Any) -> OpenStackProvider:
        attrs = {"networks": ["private"], **{k.replace("_", "-"): v
                                              for k, v in attributes.items()}}
        spec = ProviderSpec("os1", "openstack", conn or connection(cloud), attrs,
                            {lab.name: lab for lab in labels or [label()]})
        p = DRIVER.make(spec, SYSTEM)
        assert isinstance(p, OpenStackProvider)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
