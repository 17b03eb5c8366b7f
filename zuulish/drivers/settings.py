"""Reading a connection's settings from ``zuulish.yaml``: Zuul's names, types checked,
what zuulish does not do refused with the reason, typos answered with the nearest
valid name. Every error names the connection and the server configuration file."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zuulish.errors import ConfigError
from zuulish.server_config import kind_name


@dataclass(frozen=True)
class Setting:
    kind: type | tuple[type, ...]
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] = ()


def read_settings(connection: str, options: dict[str, Any], known: dict[str, Setting],
                  refused: dict[str, str], path: Path | str | None) -> dict[str, Any]:
    """``options`` checked against ``known`` (with defaults filled in); a key of
    ``refused`` is an error carrying its reason."""
    file = str(path) if path is not None else None
    where = f"connections.{connection}"
    for key in options:
        if key in refused:
            raise ConfigError(f"{where}.{key}: {refused[key]}", file=file)
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f"; its settings are {', '.join(sorted(known))}"
            raise ConfigError(f"{where}: unknown setting {key!r}{hint}", file=file)
    values: dict[str, Any] = {}
    for key, setting in known.items():
        value = options.get(key)
        if value is None:
            if setting.required:
                raise ConfigError(f"missing required setting '{where}.{key}'", file=file)
            values[key] = setting.default
            continue
        kinds = setting.kind if isinstance(setting.kind, tuple) else (setting.kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise ConfigError(f"{where}.{key} must be {kind_name(setting.kind)}, not "
                              f"{value!r}", file=file)
        if setting.choices and value not in setting.choices:
            raise ConfigError(f"{where}.{key} must be one of "
                              f"{', '.join(map(str, setting.choices))}, not {value!r}",
                              file=file)
        values[key] = value
    return values
