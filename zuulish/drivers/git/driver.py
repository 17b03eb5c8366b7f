"""The built-in forge as a connection: its repositories, source and reporter, and
its HTTP routes (git's smart protocol at ``/git/<project>.git``)."""

from __future__ import annotations

from typing import Any

from zuulish.drivers.git.connection import GitForge
from zuulish.drivers.git.http import ForgeHttp
from zuulish.drivers.git.http_auth import Authenticator, component_credentials
from zuulish.drivers.git.reporter import GitReporter
from zuulish.drivers.git.settings import read_forge_settings
from zuulish.drivers.git.source import GitSource
from zuulish.drivers.registry import ConnectionParts, DriverContext
from zuulish.errors import ConfigError


def make_connection(name: str, options: dict[str, Any], ctx: DriverContext) -> ConnectionParts:
    """The forge's repositories live under the state directory; its options say who
    reads them over HTTP and where components fetch them (see :mod:`.settings`)."""
    config = ctx.config
    settings = read_forge_settings(name, options, config.path)
    forge = GitForge(name, config.state_dir, ctx.store, config.web_url, config.path,
                     http_url=settings.url)
    ctx.change_urls.register(name, forge.resolve_change_url)
    credentials = None
    if settings.url is not None:
        try:
            credentials = component_credentials(settings.url, config.state_dir,
                                                allow_plain_http=settings.plain_http)
        except ConfigError as exc:
            raise ConfigError(f"connections.{name}.url: {exc} (or set plain_http: true "
                              "on a private network)", file=str(config.path)) from None
    # the first forge connection is served at /git/, any other at /git-<name>/
    forges = [n for n, c in config.connections.items() if c.driver == "git"]
    prefix = "/git/" if not forges or forges[0] == name else f"/git-{name}/"
    http = ForgeHttp(forge, settings, Authenticator(ctx.store, config.state_dir), prefix)
    return ConnectionParts(source=GitSource(forge, ctx.store, ctx.change_urls),
                           reporter=GitReporter(forge, ctx.store), forge=forge,
                           routes=list(http.routes()), git_credentials=credentials)
