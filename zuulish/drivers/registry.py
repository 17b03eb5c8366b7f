"""The configured connections, each built by its driver.

A driver turns one ``connections`` entry of ``zuulish.yaml`` into its parts: the
scheduler's source and reporter, the web routes it receives events on (GitHub's
webhook), the services it runs beside the scheduler (Gerrit's event stream, an
outbox of reports) and the parser of its pipeline triggers. The scheduler sees the
sources, reporters and trigger filters only: never which forge a change came from.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from zuulish.clock import Clock, SystemClock
from zuulish.config.parser import TriggerParser
from zuulish.drivers.depends_on import ChangeUrls
from zuulish.drivers.interfaces import Reporter, Source
from zuulish.errors import ConfigError
from zuulish.merger.credentials import CombinedCredentials, GitCredentials
from zuulish.model import TIMER
from zuulish.nodepool import drivers as node_drivers
from zuulish.server_config import ConnectionConfig, ServerConfig
from zuulish.store import Store

if TYPE_CHECKING:
    from aiohttp.web import AbstractRouteDef

    from zuulish.drivers.git.connection import GitForge


class Service(Protocol):
    """Something a connection runs while zuulish runs (a stream reader, an outbox)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class DriverContext:
    """What a driver may use to build a connection."""

    config: ServerConfig
    store: Store
    clock: Clock
    #: every connection's Depends-On URLs (register yours; resolve others')
    change_urls: ChangeUrls = field(default_factory=ChangeUrls)


@dataclass
class ConnectionParts:
    """One connection, built."""

    source: Source | None = None
    reporter: Reporter | None = None
    #: routes mounted on the web application (e.g. ``/api/connection/{name}/payload``)
    routes: list[AbstractRouteDef] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    forge: GitForge | None = None  # the built-in forge's repositories (driver git only)
    #: HTTP credentials for fetching this connection's repositories (private ones),
    #: scoped to its URL prefix (``zuulish.merger.credentials.ScopedCredentials``)
    git_credentials: GitCredentials | None = None


#: driver name -> "module:function" building a connection (imported when configured,
#: so an installation that names no GitHub connection never imports its driver)
FACTORIES = {
    "git": "zuulish.drivers.git.driver:make_connection",
    "gerrit": "zuulish.drivers.gerrit.driver:make_connection",
    "github": "zuulish.drivers.github.driver:make_connection",
}
#: driver name -> "module:function" parsing that driver's pipeline trigger entries
TRIGGER_PARSERS = {
    "git": "zuulish.drivers.git.trigger:parse_trigger",
    "gerrit": "zuulish.drivers.gerrit.trigger:parse_trigger",
    "github": "zuulish.drivers.github.trigger:parse_trigger",
    TIMER: "zuulish.drivers.timer.trigger:parse_trigger",
}


def _load(spec: str) -> Callable[..., Any]:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def trigger_parsers() -> dict[str, TriggerParser]:
    """The trigger parser of every driver that has one."""
    return {driver: _load(spec) for driver, spec in TRIGGER_PARSERS.items()}


@dataclass
class Connections:
    forges: dict[str, GitForge] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    reporters: dict[str, Reporter] = field(default_factory=dict)
    drivers: dict[str, str] = field(default_factory=dict)
    routes: list[AbstractRouteDef] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    git_credentials: CombinedCredentials = field(default_factory=CombinedCredentials)
    # connections of node provider drivers (openstack, aws, podman), not built here
    node_connections: dict[str, ConnectionConfig] = field(default_factory=dict)

    def add(self, name: str, driver: str, parts: ConnectionParts) -> None:
        self.drivers[name] = driver
        if parts.forge is not None:
            self.forges[name] = parts.forge
        if parts.source is not None:
            self.sources[name] = parts.source
        if parts.reporter is not None:
            self.reporters[name] = parts.reporter
        self.routes.extend(parts.routes)
        self.services.extend(parts.services)
        if parts.git_credentials is not None:
            self.git_credentials.providers.append(parts.git_credentials)


def make_connections(config: ServerConfig, store: Store,
                     clock: Clock | None = None) -> Connections:
    """Every connection ``config`` names, built by its driver; a ConfigError at the
    server configuration file for one that cannot be."""
    ctx = DriverContext(config, store, clock or SystemClock())
    conns = Connections()
    for name, conn in config.connections.items():
        if conn.driver in node_drivers.MODULES:
            # a cloud that boots nodes: named by the tenants' sections, read by the
            # config loader and the launcher (ServerConfig.cloud_connections); no
            # source, reporter or trigger
            conns.node_connections[name] = conn
            continue
        if conn.driver == TIMER:
            if name != TIMER:
                raise ConfigError(f"connection {name!r}: the timer needs no connection; "
                                  f"pipelines name it 'timer' in their trigger",
                                  file=str(config.path))
            continue
        conns.add(name, conn.driver, _build(conn, ctx))
    # Zuul's timer needs no connection configuration: ``timer`` is always there.
    conns.drivers.setdefault(TIMER, TIMER)
    return conns


def _build(conn: ConnectionConfig, ctx: DriverContext) -> ConnectionParts:
    spec = FACTORIES.get(conn.driver)
    if spec is None:
        available = ", ".join(sorted(FACTORIES))
        raise ConfigError(f"connection {conn.name!r}: the {conn.driver} driver is not "
                          f"available yet; available drivers: {available}",
                          file=str(ctx.config.path))
    return _load(spec)(conn.name, conn.options, ctx)
