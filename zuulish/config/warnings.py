"""Configuration warnings: settings Zuul documents that zuulish reads and ignores.

A parser calls :func:`warn` while it reads an object; the loader runs each
parse inside :func:`collecting` and keeps what was said with the parsed object,
so a cached object warns again on every build that uses it. Warnings are
reserved for settings that real public Zuul configurations use (refusing them
would reject those configurations); every other setting zuulish does not
honour is refused as an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from zuulish.config.yaml_loader import key_line, where
from zuulish.errors import ConfigError


class ConfigWarning(ConfigError):
    """A setting that is accepted, and has no effect in zuulish (file:line)."""

    def __str__(self) -> str:
        text = super().__str__()
        prefix = f"{self.file}:{self.line}: " if self.file and self.line else \
            (f"{self.file}: " if self.file else "")
        return f"{prefix}warning: {text[len(prefix):]}"


_current: ContextVar[list[ConfigWarning] | None] = ContextVar("config_warnings", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[list[ConfigWarning]]:
    """Collect the warnings of the parses run inside the block."""
    found: list[ConfigWarning] = []
    token = _current.set(found)
    try:
        yield found
    finally:
        _current.reset(token)


def warn(mapping: Any, key: str, fallback_file: str, message: str) -> None:
    """Warn that ``key`` of ``mapping`` is ignored (at the key's line)."""
    found = _current.get()
    if found is None:
        return  # parsed outside a loader (a unit of the parser): nobody listens
    file, _ = where(mapping, fallback_file)
    found.append(ConfigWarning(message, file=file, line=key_line(mapping, key) or None))
