"""What an OpenStack flavor's extra specs say about the hardware a server gets:
GPUs (vGPUs, PCI passthrough, Cyborg accelerators) and bare metal (Ironic).

Nova reads these keys of a flavor's extra specs (``<group>`` is empty or a granular
request group suffix such as ``1`` or ``_GPU``):

- ``resources<group>:VGPU=N``: N virtual GPUs (placement's VGPU class);
  ``resources<group>:PGPU=N`` likewise for whole physical GPUs.
- ``pci_passthrough:alias="a100:2[,t4:1]"``: PCI devices by the aliases in
  ``nova.conf`` (count 1 when left out); the GPU model is the alias.
- ``accel:device_profile=<profile>``: a Cyborg device profile (one accelerator
  unless the label says ``gpus``); the GPU model is the profile's name.
- ``resources<group>:CUSTOM_BAREMETAL_<CLASS>=1``: an Ironic node of resource
  class ``baremetal-<class>``: the server is a whole machine.

A label's ``gpus`` and ``gpu-model`` override what the specs say (a PCI alias
that is not a GPU, a vGPU type whose model the flavor cannot tell).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_RESOURCE = re.compile(r"^resources([0-9A-Za-z_-]*):(?P<cls>[A-Z0-9_]+)$")
BAREMETAL_PREFIX = "CUSTOM_BAREMETAL_"
VGPU_MODEL = "vgpu"      # when neither the flavor nor the label names the model
PGPU_MODEL = "pgpu"
GPU_MODEL = "gpu"        # a label that asks for GPUs the flavor does not show


class BadExtraSpec(ValueError):
    """An extra spec that cannot be read; ``str()`` names the key and its value."""


@dataclass(frozen=True)
class FlavorHardware:
    """The GPUs of one server of a flavor and its model (None: no GPU), and the
    bare metal resource class (``CUSTOM_BAREMETAL_GPU``; None: a virtual machine)."""

    gpus: int = 0
    gpu_model: str | None = None
    baremetal: str | None = None


def _count(key: str, value: str) -> int:
    try:
        count = int(str(value).strip())
    except ValueError:
        raise BadExtraSpec(f"extra spec {key}={value!r} is not a whole number") from None
    if count < 0:
        raise BadExtraSpec(f"extra spec {key}={value!r} is negative")
    return count


def _aliases(value: str) -> list[tuple[str, int]]:
    """``"a100:2,t4"`` -> ``[("a100", 2), ("t4", 1)]``."""
    found = []
    for part in str(value).split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, count = part.partition(":")
        name = name.strip()
        if not name:
            raise BadExtraSpec(f"extra spec pci_passthrough:alias={value!r}: an entry has "
                               "no alias name")
        number = _count("pci_passthrough:alias", count) if sep else 1
        found.append((name, number))
    if not found:
        raise BadExtraSpec(f"extra spec pci_passthrough:alias={value!r} names no alias")
    return found


def hardware(extra_specs: Mapping[str, str], *, gpus: int | None = None,
             gpu_model: str | None = None) -> FlavorHardware:
    """Read a flavor's extra specs; ``gpus``/``gpu_model`` are the label's
    overrides. Raises BadExtraSpec for a value Nova would refuse too."""
    count = 0
    models: list[str] = []
    baremetal = None
    for key, value in sorted(extra_specs.items()):
        match = _RESOURCE.match(key)
        if match:
            cls = match["cls"]
            if cls in ("VGPU", "PGPU"):
                n = _count(key, value)
                count += n
                if n:
                    models.append(VGPU_MODEL if cls == "VGPU" else PGPU_MODEL)
            elif cls.startswith(BAREMETAL_PREFIX) and _count(key, value) > 0:
                baremetal = cls
        elif key == "pci_passthrough:alias":
            for name, n in _aliases(value):
                count += n
                models.append(name)
        elif key == "accel:device_profile":
            profile = str(value).strip()
            if not profile:
                raise BadExtraSpec("extra spec accel:device_profile is empty")
            count += 1
            models.append(profile)
    if gpus is not None:
        count = gpus
    distinct = list(dict.fromkeys(models))
    model = gpu_model or ("+".join(distinct) if distinct else None)
    if count == 0:
        model = None
    elif model is None:
        model = GPU_MODEL
    return FlavorHardware(count, model, baremetal)
