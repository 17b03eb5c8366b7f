"""What each tenant may hold of the cloud providers' nodes (``zuulish.yaml``)::

    nodepool:
      tenant-resource-limits:         # nodepool's, plus max-gpus
        - tenant-name: example
          max-servers: 20
          max-cores: 160
          max-ram: 327680             # MB
          max-gpus: 4
      tenant-weights:                 # shares of scarce labels (GPUs, bare metal)
        example: 2                    # default 1

A tenant at its limits waits for its own nodes to be deleted; other tenants'
requests are served meanwhile. Scarce labels are shared by weight (see
``capacity``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zuulish.errors import ConfigError
from zuulish.nodepool.resources import Limits

LIMIT_KEYS = {"max-servers": "instances", "max-cores": "cores", "max-ram": "ram_mb",
              "max-gpus": "gpus"}


def parse_tenant_limits(data: Any, path: Path) -> dict[str, Limits]:
    where = "nodepool.tenant-resource-limits"
    if not isinstance(data, list):
        raise ConfigError(f"{where} must be a list of mappings with 'tenant-name'",
                          file=str(path))
    limits: dict[str, Limits] = {}
    for i, entry in enumerate(data):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("tenant-name"), str):
            raise ConfigError(f"{at} needs 'tenant-name'", file=str(path))
        unknown = sorted(set(entry) - {"tenant-name", *LIMIT_KEYS})
        if unknown:
            raise ConfigError(f"unknown key {at}.{unknown[0]}; allowed: tenant-name, "
                              f"{', '.join(LIMIT_KEYS)}", file=str(path))
        values = {}
        for key, attr in LIMIT_KEYS.items():
            value = entry.get(key)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{at}.{key} must be a whole number, 0 or more, not "
                                  f"{value!r}", file=str(path))
            values[attr] = value
        if entry["tenant-name"] in limits:
            raise ConfigError(f"{at}: tenant {entry['tenant-name']!r} is listed twice",
                              file=str(path))
        limits[entry["tenant-name"]] = Limits(**values)
    return limits


def parse_tenant_weights(data: Any, path: Path) -> dict[str, float]:
    where = "nodepool.tenant-weights"
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must map tenant names to weights", file=str(path))
    weights = {}
    for tenant, weight in data.items():
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            raise ConfigError(f"{where}.{tenant} must be a positive number, not {weight!r}",
                              file=str(path))
        weights[str(tenant)] = float(weight)
    return weights
