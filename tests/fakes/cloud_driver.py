"""A node provider driver that only says what it accepts, for configuration tests:
the loader checks sections, providers and their entries against it as it would
against openstack's or aws's. Its ``make`` builds nothing."""

from __future__ import annotations

from zuulish.nodepool.cloud import CloudProvider, ProviderSpec
from zuulish.nodepool.drivers import CloudDriver


def _make(spec: ProviderSpec, system_id: str) -> CloudProvider:
    raise NotImplementedError("the fake cloud driver builds no provider")


DRIVER = CloudDriver(
    "fake",
    provider_keys=frozenset({"zone", "floating-ips"}),
    image_keys=frozenset({"image-id", "username", "python-path"}),
    flavor_keys=frozenset({"flavor-name", "volume-size"}),
    label_keys=frozenset({"key-name", "userdata"}),
    connection_keys=frozenset({"endpoint", "token"}),
    make=_make,
)
