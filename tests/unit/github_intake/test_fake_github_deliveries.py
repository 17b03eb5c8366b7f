"""Deliveries from the fake GitHub (built from its state, signed as GitHub signs them)
through the webhook and the intake worker, with the permission of comment authors
asked of the fake through zuulish's API client (as the driver plugs it in)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fakes.github import webhooks
from tests.fakes.github.fixtures import app_client, fake_github, github_openapi  # noqa: F401
from tests.fakes.github.server import FakeGitHub
from tests.unit.github_intake.helpers import SECRET, webhook_served
from zuulish.clock import SimulatedClock
from zuulish.drivers.github import pulls
from zuulish.drivers.github.driver import ClientPermissions
from zuulish.drivers.github.intake_worker import IntakeWorker
from zuulish.drivers.github.webhook import payload_path
from zuulish.store import EventRow, GithubDeliveryRow, Store

pytestmark = pytest.mark.store


def test_pull_request_and_comments_from_the_fake_github(fake_github: FakeGitHub,  # noqa: F811
                                                        store: Store) -> None:
    repo = fake_github.add_repo("acme/widget")
    pull = fake_github.add_pull("acme/widget", {"a.txt": "a\n"}, title="Add a")
    fake_github.add_collaborator("acme/widget", "reader", "read")
    fake_github.add_collaborator("acme/widget", "maintainer", "write")
    setup = app_client(fake_github, "acme")
    worker = IntakeWorker("github", store, ClientPermissions(setup.client),
                          clock=SimulatedClock())
    with webhook_served(store) as url:
        fake_github.add_webhook(url + payload_path("github"), SECRET)
        opened = fake_github.emit("pull_request", webhooks.pull_request_payload(
            fake_github, repo, pull, "opened"))
        for user in ("reader", "maintainer"):
            comment = fake_github.add_comment(repo, pull, user, "recheck")
            fake_github.emit("issue_comment", webhooks.comment_payload(
                fake_github, repo, pull, comment))
        again = fake_github.emit("pull_request", webhooks.pull_request_payload(
            fake_github, repo, pull, "opened"), delivery_id=opened[0].delivery_id)
    assert [d.status for d in fake_github.deliveries] == [200, 200, 200, 200]
    assert again[0].status == 200
    while worker.step():
        pass
    with store.read() as session:
        rows = list(session.scalars(select(EventRow).order_by(EventRow.id)))
        outcomes = list(session.scalars(select(GithubDeliveryRow.outcome)
                                        .order_by(GithubDeliveryRow.id)))
    assert len(outcomes) == 3  # the replayed delivery was stored once
    assert [(e.type, e.data["action"], e.data["account"]) for e in rows] == [
        ("pull_request", "opened", "dev"), ("pull_request", "comment", "maintainer")]
    assert outcomes[1] == ("ignored: comment by reader on acme/widget#1: reader has read "
                           "permission on acme/widget; only write, maintain or admin may "
                           "trigger")
    cached = pulls.find(store, "github", "acme/widget", pull.number)
    assert cached is not None
    assert (cached.head_sha, cached.patchset, cached.title) == (pull.head_sha, 1, "Add a")
    assert rows[1].change_number == rows[0].change_number == cached.id
