"""The drivers of providers that boot nodes, by name, and what each accepts.

Each driver module has a ``DRIVER`` (a :class:`CloudDriver`): the attributes it
accepts on a ``provider``/``section``, on an image, a flavor and a label entry of
one, and on its connection in ``zuulish.yaml``; and ``make(spec, system_id)``,
which builds the provider. A key a driver does not list is refused at its file
and line. Driver modules are imported only when a configuration names them, so
openstacksdk and boto3 are needed only by those who use them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from zuulish.nodepool.cloud import CloudProvider, ProviderSpec

# driver name -> the module that defines its DRIVER
MODULES = {
    "openstack": "zuulish.nodepool.openstack",
    "aws": "zuulish.nodepool.aws",
    "podman": "zuulish.nodepool.podman",
}


@dataclass(frozen=True)
class CloudDriver:
    name: str
    provider_keys: frozenset[str]    # beyond the common ones (config.objects)
    image_keys: frozenset[str]       # of an entry in a section's ``images``
    flavor_keys: frozenset[str]      # of an entry in a section's ``flavors``
    label_keys: frozenset[str]       # of an entry in a provider's ``labels``
    connection_keys: frozenset[str]  # of its connection in zuulish.yaml
    # build the provider; raises ProviderError (PERMANENT) or ConfigError
    make: Callable[[ProviderSpec, str], CloudProvider]


class UnknownDriver(LookupError):
    pass


def driver(name: str) -> CloudDriver:
    """The driver called ``name``; UnknownDriver (with the known names) if none."""
    module = MODULES.get(name)
    if module is None:
        raise UnknownDriver(f"unknown node provider driver {name!r}; known: "
                            f"{', '.join(sorted(MODULES))}")
    found: CloudDriver = importlib.import_module(module).DRIVER
    return found
