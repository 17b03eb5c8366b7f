"""A GitHub connection: webhook intake, pull requests as changes, reports and merges.

Parts (see zuulish/drivers/registry.py): the source (:mod:`.source`), the reporter
(:mod:`.reporter`) with its outbox sender, the webhook route and intake worker
(:mod:`.webhook`, :mod:`.intake_worker`), and the credentials the merger and the
executor fetch repositories with (an installation token per repository for a
GitHub App, the personal token otherwise; never written anywhere).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from zuulish.drivers.github.auth import AppAuth, Credentials
from zuulish.drivers.github.client import GitHubClient
from zuulish.drivers.github.connect import client_for
from zuulish.drivers.github.errors import GitHubApiError
from zuulish.drivers.github.intake_worker import PermissionUnavailable, intake_parts
from zuulish.drivers.github.reporter import GithubReporter
from zuulish.drivers.github.settings import GithubSettings, read_github_settings
from zuulish.drivers.github.source import GithubSource
from zuulish.drivers.outbox import Outbox, OutboxSender
from zuulish.drivers.registry import ConnectionParts, DriverContext
from zuulish.merger.credentials import (
    GitCredentials,
    installation_token_credentials,
    static_credentials,
)
from zuulish.merger.repo_cache import RepoCache

log = logging.getLogger(__name__)


class ClientPermissions:
    """A user's permission on a repository, asked of GitHub (for ``issue_comment``
    triggers: only users with write access may ``recheck``)."""

    def __init__(self, client: GitHubClient):
        self.client = client

    def collaborator_permission(self, repo: str, user: str) -> str:
        owner, _, name = repo.partition("/")
        try:
            return self.client.collaborator_permission(owner, name, user)
        except GitHubApiError as exc:
            if exc.status == 404:
                return "none"  # not a collaborator (GitHub answers 404 for such users)
            raise PermissionUnavailable(str(exc)) from exc


def git_credentials(settings: GithubSettings, client: GitHubClient) -> GitCredentials:
    """HTTPS credentials for the repositories of ``settings.server``."""
    prefix = f"https://{settings.server}/"
    if not settings.uses_app:
        assert settings.api_token is not None
        return static_credentials(prefix, "x-access-token", settings.api_token)
    auth = client.auth
    assert isinstance(auth, AppAuth)
    path = re.compile(re.escape(prefix) + r"([^/]+)/([^/]+?)(?:\.git)?/?$")

    def token_for(url: str) -> str | None:
        match = path.match(url)
        if match is None:
            return None
        try:
            return auth.installation_token(auth.installation_id(match.group(1),
                                                                match.group(2)))
        except GitHubApiError as exc:
            log.warning("%s: no installation token for %s: %s", settings.name, url, exc)
            return None

    def refused(url: str, token: str) -> None:
        match = path.match(url)
        if match is not None:
            auth.renew(match.group(1), match.group(2), Credentials(f"token {token}", ""))

    return installation_token_credentials(prefix, token_for, on_refused=refused)


def make_connection(name: str, options: dict[str, Any], ctx: DriverContext) -> ConnectionParts:
    config = ctx.config
    settings = read_github_settings(name, options, config.path)
    # a rate limit longer than a minute is not waited out in the scheduler's thread:
    # the call is tried again later (the outbox defers, an event or merge waits)
    client = client_for(settings, clock=ctx.clock, max_rate_wait=60.0)
    credentials = git_credentials(settings, client)
    repos = RepoCache(config.state_dir / "github" / name / "repos", credentials=credentials)
    source = GithubSource(settings, client, ctx.store, ctx.clock, repos, ctx.change_urls)
    ctx.change_urls.register(name, source.resolve_change_url)
    outbox = Outbox(ctx.store, name, ctx.clock)
    reporter = GithubReporter(name, client, ctx.store, outbox, config.web_url,
                              settings.app_id, clock=ctx.clock)
    sender = OutboxSender(ctx.store, name, reporter.deliver, ctx.clock)
    routes, intake = intake_parts(name, settings.webhook_token, ctx.store,
                                  ClientPermissions(client), ctx.clock)
    return ConnectionParts(source=source, reporter=reporter, routes=list(routes),
                           services=[*intake, sender], git_credentials=credentials)
