"""pytest fixtures of the fake GitHub: import them into a test module or a conftest.

``github_openapi`` (session): GitHub's description, fetched once; the test is skipped
when npm cannot fetch it, unless ``ZUULISH_GITHUB_OPENAPI=required`` (CI), which fails it.
``fake_github``: a started :class:`FakeGitHub` on simulated time (``fake_github.clock``,
a :class:`RecordingClock` started at the wall clock's now; set ``fake_github.clock =
SystemClock()`` first for a whole system on real time); at teardown the test fails if any
request broke GitHub's OpenAPI description (take expected ones with
``fake_github.take_violations()``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
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
from zuulish.clock import SimulatedClock
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


@pytest.fixture
def fake_github(tmp_path: Path, github_openapi: OpenAPIDescription) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(tmp_path / "fake-github", github_openapi, clock=RecordingClock())
    try:
        yield fake
    finally:
        fake.close()
    violations = fake.take_violations()
    if violations:
        pytest.fail("requests or answers broke GitHub's OpenAPI description:\n  "
                    + "\n  ".join(violations))


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
