"""A GitHub source and reporter against the fake GitHub (tests/fakes/github): every
request they send is checked against GitHub's OpenAPI description."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.github import fixtures
from tests.fakes.github.server import Call, FakeGitHub
from tests.fakes.github.state import App, Installation, Pull, Repo
from zuulish.clock import SimulatedClock
from zuulish.drivers.depends_on import ChangeUrls
from zuulish.drivers.github import pulls
from zuulish.drivers.github.auth import AppAuth
from zuulish.drivers.github.client import GitHubClient
from zuulish.drivers.github.reporter import GithubReporter
from zuulish.drivers.github.settings import GithubSettings
from zuulish.drivers.github.source import GithubSource
from zuulish.drivers.github.transport import Transport
from zuulish.drivers.outbox import Outbox, OutboxSender
from zuulish.merger.repo_cache import RepoCache
from zuulish.store import Store
from zuulish.store.outbox import OutboxRow

fake_github = fixtures.fake_github
github_openapi = fixtures.github_openapi

CONNECTION = "github"
REPO = "acme/widget"
WEB_URL = "https://zuulish.example.org"
#: how long a call may take before the client gives up on it (seconds of real time)
TIMEOUT = 3.0


@dataclass
class World:
    """The fake GitHub, a repository in it, and zuulish's GitHub parts over it."""

    fake: FakeGitHub
    repo: Repo
    app: App
    installation: Installation
    client: GitHubClient
    store: Store
    clock: SimulatedClock
    urls: ChangeUrls
    source: GithubSource
    reporter: GithubReporter
    sender: OutboxSender

    def known(self, pull: Pull, repo: str = REPO) -> int:
        """Record ``pull`` as a webhook would (GitHub's JSON of it); its change number."""
        owner, name = repo.split("/")
        body = self.client.get_pull(owner, name, pull.number)
        with self.store.session() as s:
            return pulls.record(self.store, s, CONNECTION, repo, body, self.clock.now()).pull.id

    def refresh(self, number: int) -> None:
        """An event concerned the pull request (pulls.touch, as the intake does)."""
        self.clock.advance(1)
        with self.store.session() as s:
            pulls.touch(s, number, self.clock.now())

    def mark(self) -> int:
        return len(self.fake.calls)

    def calls_since(self, mark: int) -> list[Call]:
        return [c for c in self.fake.calls[mark:] if not c.path.startswith("/app/")]

    def deliver(self, rounds: int = 20) -> None:
        """Let the outbox's sender make every call that is due."""
        for _ in range(rounds):
            if not self.sender.run_once():
                return

    def outbox(self) -> list[OutboxRow]:
        with self.store.read() as s:
            rows = list(s.query(OutboxRow).order_by(OutboxRow.id))
            s.expunge_all()
            return rows


def make_client(fake: FakeGitHub, app: App) -> GitHubClient:
    """A client acting as ``app``; a rate limit is not waited out (the outbox defers)."""
    transport = Transport(fake.url, clock=fake.clock, timeout=TIMEOUT, retries=2,
                          rate_limit_retries=0)
    return GitHubClient(transport, AppAuth(app.id, app.private_key_pem, transport, fake.clock))


@pytest.fixture
def world(fake_github: FakeGitHub, store: Store, tmp_path: Path) -> World:
    repo = fake_github.add_repo(REPO, files={"README": "widget\n", "b.txt": "b\n",
                                             "zuul.yaml": "- job: {name: widget-test}\n"})
    fake_github.add_repo("acme/gadget", files={"README": "gadget\n"})
    app = fake_github.add_app()
    installation = fake_github.add_installation(app, "acme")
    client = make_client(fake_github, app)
    clock = SimulatedClock(1_700_000_000.0)
    settings = GithubSettings(name=CONNECTION, webhook_token="secret", api_url=fake_github.url,
                              app_id=str(app.id))
    urls = ChangeUrls()
    source = GithubSource(settings, client, store, clock, RepoCache(tmp_path / "repos"), urls)
    urls.register(CONNECTION, source.resolve_change_url)
    outbox = Outbox(store, CONNECTION, clock)
    reporter = GithubReporter(CONNECTION, client, store, outbox, WEB_URL, str(app.id))
    sender = OutboxSender(store, CONNECTION, reporter.deliver, clock, max_attempts=3,
                          base_delay=2.0)
    return World(fake_github, repo, app, installation, client, store, clock, urls, source,
                 reporter, sender)


def payloads(calls: list[Call]) -> list[tuple[str, str, Any]]:
    return [(c.method, c.path, c.body) for c in calls]
