"""The fake OpenStack cloud, started per test, and openstacksdk connections to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openstack
import pytest

from tests.fakes.openstack import FakeOpenStack
from tests.fakes.openstack.state import Flavor, Image


@pytest.fixture
def cloud() -> Iterator[FakeOpenStack]:
    fake = FakeOpenStack()
    yield fake
    fake.close()
    assert fake.bugs == [], "the fake cloud failed on its own:\n" + "\n".join(fake.bugs)


@pytest.fixture
def flavor(cloud: FakeOpenStack) -> Flavor:
    return cloud.add_flavor("m1.small", 2, 2048, 20)


@pytest.fixture
def image(cloud: FakeOpenStack) -> Image:
    return cloud.add_image("ubuntu-noble", properties={"os_distro": "ubuntu",
                                                       "zuulish_label": "ubuntu-gpu"})


@pytest.fixture
def connect(cloud: FakeOpenStack) -> Callable[..., openstack.connection.Connection]:
    """An unmodified openstacksdk Connection to the fake cloud (keyword overrides)."""
    def make(**overrides: Any) -> openstack.connection.Connection:
        args: dict[str, Any] = dict(
            auth_url=cloud.auth_url, username="zuul", password="secret",
            project_name="demo", user_domain_name="Default", project_domain_name="Default",
            region_name="RegionOne")
        args.update(overrides)
        return openstack.connection.Connection(**args)
    return make


@pytest.fixture
def conn(connect: Callable[..., openstack.connection.Connection]
         ) -> Iterator[openstack.connection.Connection]:
    c = connect()
    yield c
    c.close()
