"""A Gerrit source and reporter against the git-backed fake Gerrit on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.gerrit.world import GitBackedGerrit
from zuulish.clock import SimulatedClock
from zuulish.drivers.depends_on import ChangeUrls
from zuulish.drivers.gerrit.reporter import GerritReporter
from zuulish.drivers.gerrit.repos import GerritRepos
from zuulish.drivers.gerrit.rest import GerritRest
from zuulish.drivers.gerrit.source import GerritSource
from zuulish.merger.credentials import static_credentials
from zuulish.store import Store

PROJECT = "org/widget"


@dataclass
class Parts:
    gerrit: GitBackedGerrit
    rest: GerritRest
    source: GerritSource
    repos: GerritRepos
    urls: ChangeUrls


@pytest.fixture
def gerrit(tmp_path: Path) -> Iterator[GitBackedGerrit]:
    fake = GitBackedGerrit(tmp_path / "gerrit")
    fake.create_project(PROJECT, {"README": "hello\n", "zuul.yaml": "- job: {name: a}\n"})
    yield fake
    fake.close()


@pytest.fixture
def parts(gerrit: GitBackedGerrit, tmp_path: Path) -> Parts:
    rest = GerritRest(gerrit.url, user="zuul", password="secret", timeout=5, retries=1,
                      sleep=lambda _s: None)
    creds = static_credentials(f"{gerrit.url}/a/", "zuul", "secret")
    repos = GerritRepos(tmp_path / "cache", lambda p: f"{gerrit.url}/a/{p}", creds)
    urls = ChangeUrls()
    source = GerritSource("review", rest, baseurl=gerrit.url, repos=repos,
                          authenticated=True, change_urls=urls)
    urls.register("review", source.resolve_change_url)
    return Parts(gerrit, rest, source, repos, urls)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def reporter(parts: Parts, store: Store, clock: SimulatedClock) -> GerritReporter:
    return GerritReporter("review", parts.rest, parts.source, store, clock, parts.repos)
