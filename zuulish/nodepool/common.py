"""The attributes every cloud provider has (Zuul's common ``provider``/``section``
attributes, and nodepool's ``max-servers``), as the launcher uses them.

The config loader has checked them at their file and line
(``zuulish.config.node_providers``); each driver reads them here, so they mean
the same on every cloud.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zuulish.nodepool.resources import Limits

DEFAULT_LAUNCH_TIMEOUT = 600.0  # s from create to the cloud saying it runs
DEFAULT_BOOT_TIMEOUT = 120.0    # s from then to SSH answering
DEFAULT_LAUNCH_ATTEMPTS = 3


@dataclass(frozen=True)
class CommonAttributes:
    limits: Limits
    launch_timeout: float = DEFAULT_LAUNCH_TIMEOUT
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    launch_attempts: int = DEFAULT_LAUNCH_ATTEMPTS
    host_key_checking: bool = True


def common_attributes(attributes: Mapping[str, Any]) -> CommonAttributes:
    """``resource-limits`` tightened by ``max-servers``, the timeouts, the attempts
    and ``host-key-checking``, with Zuul's defaults."""
    limits = Limits.from_config(attributes.get("resource-limits") or {})
    if attributes.get("max-servers") is not None:
        limits = limits.tightest(Limits(instances=int(attributes["max-servers"])))
    return CommonAttributes(
        limits=limits,
        launch_timeout=float(attributes.get("launch-timeout", DEFAULT_LAUNCH_TIMEOUT)),
        boot_timeout=float(attributes.get("boot-timeout", DEFAULT_BOOT_TIMEOUT)),
        launch_attempts=int(attributes.get("launch-attempts", DEFAULT_LAUNCH_ATTEMPTS)),
        host_key_checking=bool(attributes.get("host-key-checking", True)))
