"""A pull request through the whole system against a fake GitHub: webhooks signed and
delivered over HTTP to zuulish's web server, check, an approving review, gate, and a
merge through GitHub's API that leaves the branch holding exactly the tested tree."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.github import fixtures
from tests.fakes.github.server import FakeGitHub
from tests.fakes.github.state import Pull, Repo
from tests.fakes.github.webhooks import pull_request_payload, review_payload
from tests.fakes.tenant import read_dir
from zuulish.app import AllInOne
from zuulish.runner import WebThread
from zuulish.server_config import load_server_config

pytestmark = [pytest.mark.slow]

github_openapi = fixtures.github_openapi
fake_github = fixtures.fake_github

ROOT = Path(__file__).resolve().parents[2]
SECRET = "webhook-secret"
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; events:\n"
                             + self.events())

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
    repo = fake_github.add_repo(APP, files={".zuul.yaml": APP_CONFIG, "value.txt": "good\n"})
    app = fake_github.add_app()
    fake_github.add_installation(app, "acme")
    fake_github.add_collaborator(APP, "maintainer", "write")
    fake_github.protect_branch(APP, "main", contexts=["t/gate"])
    (tmp_path / "app.pem").write_text(app.private_key_pem)
    port = _free_port()
    (tmp_path / "main.yaml").write_text(
        "- tenant:\n    name: t\n    source:\n      forge:\n        config-projects:\n"
        "          - zuul-config\n          - zuulish-jobs\n"
        f"      github:\n        untrusted-projects:\n          - {APP}\n")
    (tmp_path / "zuulish.yaml").write_text(
        f"state_dir: state\ntenant_file: main.yaml\n"
        f"web: {{listen: '127.0.0.1:{port}', url: 'http://127.0.0.1:{port}'}}\n"
        "connections:\n  forge: {driver: git}\n"
        f"  github: {{driver: github, app_id: {app.id}, app_key: app.pem, "
        f"webhook_token: {SECRET}, api_url: '{fake_github.url}'}}\n"
        "scheduler: {poll_interval: 0.05}\n")
    aio = AllInOne(load_server_config(tmp_path / "zuulish.yaml"))
    forge = aio.connections.forges["forge"]
    forge.create_project("zuul-config", {"zuul.d/pipelines.yaml": PIPELINES})
    forge.create_project("zuulish-jobs", read_dir(ROOT / "jobs"))
    aio.start()
    web = WebThread(aio)
    web.start()
    fake_github.add_webhook(f"http://127.0.0.1:{port}/api/connection/github/payload", SECRET)
    try:
        yield World(fake_github, repo, aio)
    finally:
        web.stop()
        aio.stop()


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
