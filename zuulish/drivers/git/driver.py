"""The built-in forge as a connection: its repositories, source and reporter."""

from __future__ import annotations

from typing import Any

from zuulish.drivers.git.connection import GitForge
from zuulish.drivers.git.reporter import GitReporter
from zuulish.drivers.git.source import GitSource
from zuulish.drivers.registry import ConnectionParts, DriverContext


def make_connection(name: str, options: dict[str, Any], ctx: DriverContext) -> ConnectionParts:
    """The forge's repositories live under the state directory; it needs no options."""
    config = ctx.config
    forge = GitForge(name, config.state_dir, ctx.store, config.web_url, config.path)
    ctx.change_urls.register(name, forge.resolve_change_url)
    return ConnectionParts(source=GitSource(forge, ctx.store, ctx.change_urls),
                           reporter=GitReporter(forge, ctx.store), forge=forge)
