"""A Gerrit connection: its REST client, event stream, source, reporter and outbox.

``make_connection`` turns the ``connections`` entry (``settings.py``) into:

- a :class:`GerritRest` at ``baseurl`` (authenticated when a password is set);
- a listener storing stream lines (and webhook bodies) as trigger events, which
  drops the source's cached copy of a change before an event about it is stored
  (store_event then wakes the scheduler); its catch-ups compare the branches and
  tags of the projects the tenant file gives this connection;
- the ``stream-events`` reader as a service (unless ``stream_events: false``);
- the outbox sender posting the reporter's reviews;
- git credentials (the user and HTTP password) for ``<baseurl>/a/``;
- its change URLs registered in ``ctx.change_urls`` for Depends-On;
- the webhooks plugin's intake, ``POST /api/connection/<name>/payload``
  (``webhook.py``: bodies are hints confirmed through REST).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from zuulish.config.tenant import load_tenants
from zuulish.drivers.gerrit.catchup import CatchUpResult
from zuulish.drivers.gerrit.events import NormalizedEvent, normalize
from zuulish.drivers.gerrit.listener import GerritListener
from zuulish.drivers.gerrit.reporter import GerritReporter
from zuulish.drivers.gerrit.repos import GerritRepos
from zuulish.drivers.gerrit.rest import GerritRest
from zuulish.drivers.gerrit.settings import GerritSettings, read_gerrit_settings
from zuulish.drivers.gerrit.source import GerritSource
from zuulish.drivers.gerrit.stream import GerritStream
from zuulish.drivers.gerrit.webhook import GerritWebhook
from zuulish.drivers.outbox import OutboxSender
from zuulish.drivers.registry import ConnectionParts, DriverContext, Service
from zuulish.merger.credentials import static_credentials
from zuulish.model import TIMER
from zuulish.store import Store


class ChangeListener(GerritListener):
    """A listener that keeps ``source``'s cache honest: a change's cached copy (and
    those built from it) is dropped before an event about it is stored, and every
    cached change before a catch-up stores what was missed."""

    def __init__(self, store: Store, connection: str, rest: GerritRest,
                 source: GerritSource, **kwargs: Any):
        super().__init__(store, connection, rest, **kwargs)
        self.source = source

    def handle_event(self, body: bytes | str | dict[str, Any], *, source: str = "webhook"
                     ) -> bool:
        event = normalize(body)
        if isinstance(event, NormalizedEvent) and event.change_number is not None:
            self.source.invalidate(event.change_number)
        return super().handle_event(body, source=source)

    def catch_up(self) -> CatchUpResult | None:
        self.source.invalidate(None)
        return super().catch_up()


def tenant_projects(ctx: DriverContext, connection: str) -> Callable[[], list[str]]:
    """The projects the tenant file gives ``connection`` (read when called, so a
    reconfiguration is seen by the next catch-up)."""

    def projects() -> list[str]:
        names = {*ctx.config.connections, TIMER}
        return sorted({p.name for tenant in load_tenants(ctx.config.tenant_file, names)
                       for p in tenant.projects if p.connection == connection})

    return projects


def make_rest(settings: GerritSettings) -> GerritRest:
    session = requests.Session()
    session.verify = settings.verify_ssl
    if settings.password is None:
        return GerritRest(settings.baseurl, session=session)
    return GerritRest(settings.baseurl, user=settings.user, password=settings.password,
                      session=session)


def make_connection(name: str, options: dict[str, Any], ctx: DriverContext) -> ConnectionParts:
    settings = read_gerrit_settings(name, options, ctx.config.path)
    rest = make_rest(settings)
    credentials = None
    if settings.password is not None:
        credentials = static_credentials(f"{settings.baseurl}/a/", settings.user,
                                         settings.password)
    authenticated = settings.password is not None

    def url_for(project: str) -> str:
        base = f"{settings.baseurl}/a" if authenticated else settings.baseurl
        return f"{base}/{project}"

    repos = GerritRepos(ctx.config.state_dir / "gerrit-cache" / name, url_for, credentials)
    source = GerritSource(name, rest, baseurl=settings.baseurl, repos=repos,
                          authenticated=authenticated,
                          hostnames=(settings.server, settings.canonical_hostname),
                          change_urls=ctx.change_urls)
    ctx.change_urls.register(name, source.resolve_change_url)
    reporter = GerritReporter(name, rest, source, ctx.store, ctx.clock, repos,
                              web_url=ctx.config.web_url)
    listener = ChangeListener(ctx.store, name, rest, source, clock=ctx.clock.now,
                              projects=tenant_projects(ctx, name))
    services: list[Service] = [OutboxSender(ctx.store, name, reporter.deliver, ctx.clock)]
    if settings.stream_events:
        assert settings.sshkey is not None  # read_gerrit_settings checked it
        services.append(GerritStream(
            settings.server, settings.user, settings.sshkey, port=settings.port,
            known_hosts=settings.known_hosts, on_line=listener.handle_line,
            on_connect=listener.on_connect, on_gap=listener.catch_up, name=name,
            keepalive_interval=float(settings.keepalive)))
    webhook = GerritWebhook(ctx.store, name, rest, source, clock=ctx.clock.now)
    return ConnectionParts(source=source, reporter=reporter, services=services,
                           routes=[webhook.route()], git_credentials=credentials)
