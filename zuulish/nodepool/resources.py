"""What a node costs and what a provider or tenant may spend: instances, cores,
RAM and GPUs (the units of Zuul's ``resource-limits`` and of clouds' quotas)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

# Zuul's resource-limits keys (and ours for GPUs), as written in YAML
LIMIT_KEYS = {"instances": "instances", "cores": "cores", "ram": "ram_mb", "gpus": "gpus"}


@dataclass(frozen=True)
class Resources:
    """An amount of each resource: one node's, or the sum of many."""

    instances: int = 0
    cores: int = 0
    ram_mb: int = 0
    gpus: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(*(getattr(self, f.name) + getattr(other, f.name)
                           for f in fields(self)))

    def __sub__(self, other: Resources) -> Resources:
        return Resources(*(getattr(self, f.name) - getattr(other, f.name)
                           for f in fields(self)))

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Resources:
        data = data or {}
        return cls(**{f.name: int(data.get(f.name) or 0) for f in fields(cls)})

    @classmethod
    def total(cls, amounts: Iterable[Resources]) -> Resources:
        result = cls()
        for amount in amounts:
            result = result + amount
        return result


@dataclass(frozen=True)
class Limits:
    """The most of each resource that may be in use; None: no limit."""

    instances: int | None = None
    cores: int | None = None
    ram_mb: int | None = None
    gpus: int | None = None

    def exceeded_by(self, amount: Resources) -> str | None:
        """The first resource ``amount`` goes over (``"cores: 10 > 8"``), or None."""
        for f in fields(self):
            limit = getattr(self, f.name)
            if limit is not None and getattr(amount, f.name) > limit:
                return f"{f.name}: {getattr(amount, f.name)} > {limit}"
        return None

    def tightest(self, other: Limits) -> Limits:
        """Each resource's smaller limit of the two."""
        def low(a: int | None, b: int | None) -> int | None:
            return b if a is None else a if b is None else min(a, b)
        return Limits(*(low(getattr(self, f.name), getattr(other, f.name))
                        for f in fields(self)))

    def is_unlimited(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> Limits:
        """From Zuul's ``resource-limits`` (``instances``, ``cores``, ``ram`` in MB,
        ``gpus``); the caller has checked the keys and that the values are ints."""
        return cls(**{attr: data[key] for key, attr in LIMIT_KEYS.items() if key in data})
