"""A pull request through the whole system against a fake GitHub: webhooks signed and
delivered over HTTP to zuulish's web server, check, an approving review, gate, and a
merge through GitHub's API that leaves the branch holding exactly the tested tree."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.forges import (
    deliver_webhooks,
    github_connection,
    github_repo,
    running_zuulish,
    wait_until,
)
from tests.fakes.github import fixtures
from tests.fakes.github.server import FakeGitHub
from tests.fakes.github.state import Pull, Repo
from tests.fakes.github.webhooks import pull_request_payload, review_payload
from zuulish.app import AllInOne

pytestmark = [pytest.mark.slow]

github_openapi = fixtures.github_openapi
fake_github = fixtures.fake_github

APP = "acme/app"
APP_CONFIG = """
- job:
    name: app-test
    parent: run-shell
    vars:
      command: test "$(cat value.txt)" != bad
- project:
    check:
      jobs: [app-test]
    gate:
      jobs: [app-test]
"""
PIPELINES = """
- pipeline:
    name: check
    manager: independent
    trigger:
      github:
        - event: pull_request
          action: [opened, changed, reopened]
    start:
      github:
        check: in_progress
        comment: false
    success:
      github:
        check: success
    failure:
      github:
        check: failure

- pipeline:
    name: gate
    manager: dependent
    precedence: high
    require:
      github:
        review:
          - type: approved
            permission: write
    trigger:
      github:
        - event: pull_request_review
          action: submitted
          state: approved
    start:
      github:
        check: in_progress
        comment: false
    success:
      github:
        check: success
        merge: true
        label: merged-by-zuulish
    failure:
      github:
        check: failure
"""


@dataclass
class World:
    fake: FakeGitHub
    repo: Repo
    aio: AllInOne

    def open_pull(self, files: dict[str, str | None], title: str) -> Pull:
        pull = self.fake.add_pull(APP, files, title=title)
        self.fake.emit("pull_request", pull_request_payload(self.fake, self.repo, pull,
                                                            "opened"))
        return pull

    def approve(self, pull: Pull, user: str = "maintainer") -> None:
        review = self.fake.add_review(self.repo, pull, user, "APPROVED")
        self.fake.emit("pull_request_review", review_payload(self.fake, self.repo, pull,
                                                             review))

    def check_run(self, pull: Pull, name: str) -> dict[str, Any] | None:
        runs = [r for r in self.repo.check_runs
                if r["head_sha"] == pull.head_sha and r["name"] == name]
        return runs[-1] if runs else None

    def wait(self, what: str, predicate: Callable[[], Any], timeout: float = 120) -> Any:
        return wait_until(what, predicate, timeout, lambda: "events:\n" + self.events())

    def events(self) -> str:
        """What became of each event and delivery (for a failure's message)."""
        from sqlalchemy import select

        from zuulish.store import EventRow
        from zuulish.store.github import GithubDeliveryRow
        with self.aio.store.read() as s:
            rows = [f"event {r.type} {r.data.get('action')}: {r.outcome}"
                    for r in s.scalars(select(EventRow).order_by(EventRow.id))]
            rows += [f"delivery {r.event}: {r.outcome}"
                     for r in s.scalars(select(GithubDeliveryRow))]
        return "\n".join(rows)

    def concluded(self, pull: Pull, name: str) -> str:
        run = self.wait(f"the {name} check run of #{pull.number} to complete",
                        lambda: (r := self.check_run(pull, name)) is not None
                        and r["status"] == "completed" and r)
        return str(run["conclusion"])


@pytest.fixture
def world(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[World]:
    repo, app = github_repo(fake_github, tmp_path, APP,
                            {".zuul.yaml": APP_CONFIG, "value.txt": "good\n"})
    with running_zuulish(tmp_path, PIPELINES, {"github": [APP]},
                         {"github": github_connection(fake_github, app)}) as aio:
        deliver_webhooks(fake_github, aio, "github")
        yield World(fake_github, repo, aio)


def test_a_pull_request_is_checked_gated_and_merged_as_tested(world: World) -> None:
    good = world.open_pull({"feature.txt": "new\n"}, "Add a feature")
    bad = world.open_pull({"value.txt": "bad\n"}, "Break it")
    assert world.concluded(good, "t/check") == "success"
    assert world.concluded(bad, "t/check") == "failure"

    world.approve(good)
    assert world.concluded(good, "t/gate") == "success"
    world.wait("the good pull request merged", lambda: good.merged)
    tip = world.repo.bare.rev("refs/heads/main")
    assert world.repo.bare.git("show", f"{tip}:feature.txt") == "new"
    world.wait("the success report's label", lambda: "merged-by-zuulish" in good.labels)
    # what GitHub merged is the state the gate tested: its tree is the merger's
    with world.aio.store.read() as s:
        from sqlalchemy import select

        from zuulish.store import BuildSetRow, QueueItemRow
        states = [row.repo_state for row in s.scalars(
            select(BuildSetRow).join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
            .where(QueueItemRow.pipeline == "gate", QueueItemRow.state == "merged"))]
    tested_trees = {st[APP]["tree"] for st in states if st and APP in st}
    assert world.repo.bare.git("rev-parse", f"{tip}^{{tree}}") in tested_trees

    world.approve(bad)
    assert world.concluded(bad, "t/gate") == "failure"
    time.sleep(0.5)
    assert not bad.merged
    assert world.fake.calls_to("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge") \
        and all(c.path.endswith(f"/pulls/{good.number}/merge")
                for c in world.fake.calls_to("PUT",
                                             "/repos/{owner}/{repo}/pulls/{pull_number}/merge"))


def test_an_approval_by_a_reader_does_not_gate(world: World) -> None:
    world.fake.add_collaborator(APP, "visitor", "read")
    pull = world.open_pull({"x.txt": "x\n"}, "A change")
    assert world.concluded(pull, "t/check") == "success"
    world.approve(pull, user="visitor")
    time.sleep(2)
    assert world.check_run(pull, "t/gate") is None and not pull.merged
