"""The intake worker: stored deliveries become scheduler events, in order, each once."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.fakes.trigger_world import TriggerWorld
from tests.unit.github_intake.conftest import Intake, Permissions
from tests.unit.github_intake.helpers import corpus_payload, missing_properties, schema_errors
from tests.unit.github_intake.test_corpus_events import ADDED_LATER
from zuulish.drivers.github import pulls
from zuulish.drivers.github.intake_worker import IntakeWorker
from zuulish.store import GithubDeliveryRow

HELLO = "Codertocat/Hello-World"


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def pr_comment(text: str, user: str = "Codertocat", number: int = 2) -> dict[str, Any]:
    """A comment on pull request ``number``, built from the corpus's issue comment."""
    payload = copy.deepcopy(corpus_payload("issue_comment.created.1.json"))
    payload["issue"]["number"] = number
    payload["issue"]["pull_request"] = {
        "url": f"https://api.github.com/repos/{HELLO}/pulls/{number}",
        "html_url": f"https://github.com/{HELLO}/pull/{number}",
        "diff_url": f"https://github.com/{HELLO}/pull/{number}.diff",
        "patch_url": f"https://github.com/{HELLO}/pull/{number}.patch"}
    payload["comment"]["body"] = text
    payload["comment"]["user"]["login"] = payload["sender"]["login"] = user
    return payload


def synchronized(sha: str) -> dict[str, Any]:
    payload = copy.deepcopy(corpus_payload("pull_request.synchronize.json"))
    payload["pull_request"]["head"]["sha"] = sha
    payload["before"], payload["after"] = payload["pull_request"]["head"]["sha"], sha
    return payload


def test_the_payloads_these_tests_build_are_what_github_sends() -> None:
    # the corpus's issue comment predates a few fields GitHub added (see
    # test_corpus_events); adding pull_request to the issue adds no other complaint
    missing = missing_properties(schema_errors("issue_comment", pr_comment("recheck")))
    assert missing is not None and missing <= ADDED_LATER
    assert schema_errors("pull_request", synchronized("a" * 40)) == []


def test_comment_by_a_writer_on_a_pull_request_triggers(intake: Intake) -> None:
    intake.permissions.given[(HELLO, "Codertocat")] = "write"
    intake.receive("pull_request", body(corpus_payload("pull_request.opened.2.json")))
    intake.receive("issue_comment", body(pr_comment("recheck")))
    intake.run()
    opened, comment = intake.events()
    assert (comment.type, comment.data["action"], comment.data["comment"]) == \
        ("pull_request", "comment", "recheck")
    assert comment.change_number == opened.change_number
    assert (comment.patchset, comment.branch, comment.data["account"]) == \
        (1, "master", "Codertocat")
    assert intake.permissions.asked == [(HELLO, "Codertocat")]


def test_maintainers_and_admins_may_trigger_but_not_triage(intake: Intake) -> None:
    intake.permissions.given.update({(HELLO, "m"): "maintain", (HELLO, "a"): "admin",
                                     (HELLO, "t"): "triage"})
    for user in ("m", "a", "t"):
        intake.receive("issue_comment", body(pr_comment("recheck", user)))
    intake.run()
    assert [e.data["account"] for e in intake.events()] == ["m", "a"]


def test_a_failed_permission_lookup_waits_and_keeps_the_order(
        intake: Intake, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zuulish.drivers.github")
    intake.permissions.given[(HELLO, "Codertocat")] = "admin"
    intake.permissions.failures = 1
    intake.receive("issue_comment", body(pr_comment("recheck")), delivery="first")
    intake.receive("push", body(corpus_payload("push.5.json")), delivery="second")
    intake.run()
    assert intake.events() == []  # the push waits behind the comment
    assert intake.outcome("second") is None
    assert "delivery first waits: the permission of Codertocat on " \
           f"{HELLO} could not be looked up (GET /repos/{HELLO}/collaborators/Codertocat/" \
           "permission: 502 Bad Gateway)" in caplog.text
    intake.run()
    assert [(e.type, e.data["delivery"]) for e in intake.events()] == \
        [("pull_request", "first"), ("push", "second")]


def test_a_permission_lookup_that_keeps_failing_is_given_up_and_said(
        intake: Intake, caplog: pytest.LogCaptureFixture) -> None:
    intake.permissions.failures = 99
    intake.receive("issue_comment", body(pr_comment("recheck")), delivery="c")
    intake.receive("push", body(corpus_payload("push.5.json")), delivery="p")
    for _ in range(5):
        intake.run()
    assert intake.outcome("c") == (
        f"ignored: the permission of Codertocat on {HELLO} could not be looked up "
        f"(GET /repos/{HELLO}/collaborators/Codertocat/permission: 502 Bad Gateway); "
        "gave up after 3 attempts")
    assert [e.data["delivery"] for e in intake.events()] == ["p"]
    assert "gave up looking up the permission of Codertocat" in caplog.text


def test_a_delivery_is_processed_once_whatever_the_passes(intake: Intake) -> None:
    intake.receive("pull_request", body(corpus_payload("pull_request.opened.1.json")))
    intake.run()
    intake.run()
    with intake.store.session() as session:  # what a restart finds: the same rows
        pending = session.scalars(select(GithubDeliveryRow).where(
            GithubDeliveryRow.processed_at.is_(None))).all()
    assert pending == []
    assert len(intake.events()) == 1


def test_each_new_head_is_the_next_patch_set(intake: Intake) -> None:
    intake.receive("pull_request", body(corpus_payload("pull_request.opened.1.json")))
    intake.receive("pull_request", body(synchronized("b" * 40)))
    intake.receive("pull_request", body(synchronized("c" * 40)))
    intake.run()
    opened, second, third = intake.events()
    assert [e.patchset for e in (opened, second, third)] == [1, 2, 3]
    assert {e.change_number for e in (opened, second, third)} == {opened.change_number}
    assert [e.data["meaning"] for e in (second, third)] == ["new-patchset"] * 2
    pull = pulls.get(intake.store, "github", opened.change_number)
    assert pull is not None
    assert (pull.head_sha, pull.patchset, pull.display) == ("c" * 40, 3, f"{HELLO}#2")


def test_a_status_on_a_pull_requests_head_is_a_pull_request_status_event(
        intake: Intake) -> None:
    opened = corpus_payload("pull_request.opened.1.json")
    status = copy.deepcopy(corpus_payload("status.1.json"))
    status["sha"] = opened["pull_request"]["head"]["sha"]
    intake.receive("pull_request", body(opened))
    intake.receive("status", body(status))
    intake.run()
    _, event = intake.events()
    assert (event.type, event.data["action"], event.data["status"]) == \
        ("pull_request", "status", "Codertocat:default:success")
    assert (event.patchset, event.branch) == (1, "master")


def test_a_pull_request_closed_by_merging_means_merged(intake: Intake) -> None:
    closed = copy.deepcopy(corpus_payload("pull_request.closed.1.json"))
    closed["pull_request"]["merged"] = True
    intake.receive("pull_request", body(closed))
    intake.run()
    (event,) = intake.events()
    assert event.data["meaning"] == "merged"
    pull = pulls.find(intake.store, "github", HELLO, 2)
    assert pull is not None and pull.merged and not pull.is_open


def test_an_unhandled_pull_request_action_is_ignored_with_the_reason(intake: Intake) -> None:
    payload = copy.deepcopy(corpus_payload("pull_request.opened.1.json"))
    payload["action"] = "assigned"
    delivery = intake.receive("pull_request", body(payload))
    intake.run()
    assert intake.events() == []
    assert (intake.outcome(delivery) or "").startswith(
        f"ignored: pull_request action 'assigned' on {HELLO}#2 is not a trigger")


GITHUB_WORLD = """
- pipeline:
    name: check
    manager: independent
    trigger:
      forge:
        - event: patchset-created
- job:
    name: noop
    nodeset: {nodes: []}
    run: playbooks/noop.yaml
"""


@pytest.mark.store
def test_an_event_for_a_repository_in_no_tenant_is_stored_and_the_scheduler_says_so(
        tmp_path: Path, database_url: str) -> None:
    world = TriggerWorld(tmp_path, database_url, GITHUB_WORLD, {"org/app": {"README": "x\n"}})
    try:
        permissions = Permissions()
        intake = Intake(world.store, IntakeWorker("github", world.store, permissions,
                                                  clock=world.clock), permissions)
        intake.receive("pull_request", body(corpus_payload("pull_request.opened.1.json")))
        intake.run()
        world.settle()
        (event,) = world.events("pull_request")
        assert event.outcome == (f"ignored: no tenant includes project {HELLO!r} on "
                                 "connection 'github'")
    finally:
        world.close()


def test_a_status_refreshes_the_pull_request_it_concerns(intake: Intake) -> None:
    opened = corpus_payload("pull_request.opened.1.json")
    intake.receive("pull_request", body(opened))
    intake.run()
    before = pulls.find(intake.store, "github", HELLO, 2)
    status = copy.deepcopy(corpus_payload("status.1.json"))
    status["sha"] = opened["pull_request"]["head"]["sha"]
    intake.worker.clock.advance(30)  # type: ignore[attr-defined]
    intake.receive("status", body(status))
    intake.run()
    after = pulls.find(intake.store, "github", HELLO, 2)
    assert before is not None and after is not None
    assert after.data["refreshed_at"] == before.data["refreshed_at"] + 30
