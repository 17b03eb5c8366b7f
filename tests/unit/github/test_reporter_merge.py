"""The gate's merge through the GitHub reporter: once GitHub answers that it merged
the pull request, zuulish's copy of it says so at once, without waiting for GitHub's
``closed`` webhook (a change behind it in the gate that needs it asks right away)."""

from __future__ import annotations

import pytest

from tests.fakes.github import fixtures
from tests.fakes.github.fixtures import app_client
from tests.fakes.github.server import FakeGitHub
from zuulish.drivers.github import pulls
from zuulish.drivers.github.reporter import GithubReporter
from zuulish.drivers.outbox import Outbox
from zuulish.store import Store

pytestmark = pytest.mark.store

fake_github = fixtures.fake_github
github_openapi = fixtures.github_openapi


def test_a_merged_pull_request_is_known_merged_before_githubs_webhook(
        fake_github: FakeGitHub, store: Store) -> None:
    fake_github.add_repo("acme/widget", files={"README": "widget\n"})
    pull = fake_github.add_pull("acme/widget", {"a.txt": "a\n"}, title="Add a")
    client = app_client(fake_github).client
    with store.session() as session:  # as the opened webhook recorded it
        pull_id = pulls.record(store, session, "github", "acme/widget",
                               client.get_pull("acme", "widget", pull.number), 1.0).pull.id
    reporter = GithubReporter("github", client, store, Outbox(store, "github", fake_github.clock),
                              "http://zuulish.test", clock=fake_github.clock)
    before = pulls.get(store, "github", pull_id)
    assert before is not None and before.is_open and not before.merged

    sha = reporter.submit(pull_id, {"acme/widget": {"changes": [pull.head_sha],
                                                    "merge_mode": "merge"}})

    assert pull.merged and sha == pull.merge_commit_sha
    after = pulls.get(store, "github", pull_id)
    assert after is not None and after.merged and not after.is_open
    # the opened delivery, handled late, does not make it open again
    with store.session() as session:
        late = pulls.record(store, session, "github", "acme/widget",
                            {**client.get_pull("acme", "widget", pull.number),
                             "state": "open", "merged": False, "merged_at": None}, 2.0).pull
    assert late.merged and not late.is_open
