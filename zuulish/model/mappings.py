"""Merging nested mappings the way Zuul merges job variables and returned data."""

from __future__ import annotations

from typing import Any


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into a new dict of ``base``: mappings merge key by key, at
    every depth; any other value replaces. Leaf values are shared, not copied."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
