"""pytest fixtures of the fake GitHub: import them into a test module or a conftest.

``github_openapi`` (session): GitHub's description, fetched once; the test is skipped
when npm cannot fetch it, unless ``ZUULISH_GITHUB_OPENAPI=required`` (CI), which fails it.
``fake_github``: a started :class:`FakeGitHub` whose clock (``fake_github.clock``, a
:class:`FastForwardClock`) is the wall clock plus what tests skip with
``clock.advance()`` or what a client given that clock sleeps; at teardown the test fails if any
request broke GitHub's OpenAPI description (take expected ones with
``fake_github.take_violations()``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.github.openapi import (
    REQUIRED_ENV,
    OpenAPIDescription,
    OpenAPIUnavailable,
    load_description,
)
from tests.fakes.github.server import FakeGitHub
from tests.fakes.github.state import App, Installation
from zuulish.clock import Clock, SimulatedClock
from zuulish.drivers.github.auth import AppAuth, TokenAuth
from zuulish.drivers.github.client import GitHubClient
from zuulish.drivers.github.transport import Transport


def description_or_skip(load: Callable[[], OpenAPIDescription] = load_description,
                        ) -> OpenAPIDescription:
    """GitHub's description; the test skips without it, or fails where it is required."""
    try:
        return load()
    except OpenAPIUnavailable as exc:
        reason = f"GitHub's OpenAPI description is unavailable: {exc}"
        if os.environ.get(REQUIRED_ENV) == "required":
            pytest.fail(f"{reason}, and {REQUIRED_ENV}=required")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def github_openapi() -> OpenAPIDescription:
    return description_or_skip()


@contextmanager
def running_fake(root: Path, description: OpenAPIDescription,
                 clock: Clock | None = None) -> Iterator[FakeGitHub]:
    """A started fake GitHub, stopped at the end; the test fails there if any request or
    answer broke GitHub's OpenAPI description."""
    fake = FakeGitHub(root, description, clock=clock or FastForwardClock())
    try:
        yield fake
    finally:
        fake.close()
    violations = fake.take_violations()
    if violations:
        pytest.fail("requests or answers broke GitHub's OpenAPI description:\n  "
                    + "\n  ".join(violations))


@pytest.fixture
def fake_github(tmp_path: Path, github_openapi: OpenAPIDescription) -> Iterator[FakeGitHub]:
    with running_fake(tmp_path / "fake-github", github_openapi) as fake:
        yield fake


class FastForwardClock:
    """Wall-clock time plus every sleep and advance, which take no real time (sleeps are
    recorded): a whole system on real time and a client that waits out a rate limit
    both see a clock that agrees with the fake's."""

    def __init__(self) -> None:
        self._skipped = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        with self._lock:
            return time.time() + self._skipped

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        with self._lock:
            self._skipped += seconds


class RecordingClock(SimulatedClock):
    """Simulated time that remembers each sleep (rate-limit and back-off waits)."""

    def __init__(self, start: float | None = None):
        super().__init__(time.time() if start is None else start)
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


@dataclass
class AppSetup:
    client: GitHubClient
    app: App
    installation: Installation


def app_client(fake: FakeGitHub, account: str = "acme", *, repos: list[str] | None = None,
               permissions: dict[str, str] | None = None, timeout: float = 10.0,
               retries: int = 4) -> AppSetup:
    """A GitHub App installed on ``account`` in the fake, and a client acting as it
    (on the fake's clock)."""
    app = fake.add_app()
    inst = fake.add_installation(app, account, repos, permissions)
    transport = Transport(fake.url, clock=fake.clock, timeout=timeout, retries=retries)
    auth = AppAuth(app.id, app.private_key_pem, transport, fake.clock)
    return AppSetup(GitHubClient(transport, auth), app, inst)


def token_client(fake: FakeGitHub, token: str, *, timeout: float = 10.0,
                 retries: int = 4) -> GitHubClient:
    transport = Transport(fake.url, clock=fake.clock, timeout=timeout, retries=retries)
    return GitHubClient(transport, TokenAuth(token))
