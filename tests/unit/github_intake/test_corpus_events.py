"""Every webhook payload of the corpus becomes the trigger event Zuul would make
of it, or is ignored with the reason said; and each is what GitHub's published
webhook schemas describe."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.unit.github_intake.conftest import Intake
from tests.unit.github_intake.helpers import (
    corpus_body,
    corpus_files,
    corpus_payload,
    event_of,
    missing_properties,
    schema_errors,
)

# the driver's logic is the subject; the outbox and pull requests it keeps have
# store tests of their own (tests/conftest.py)
pytestmark = pytest.mark.not_store

HELLO = "Codertocat/Hello-World"
NEW, MERGED, ABANDONED, BRANCH = "new-patchset", "merged", "abandoned", "branch-updated"
SHA_PR = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
SHA_TAG = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
NULL = "0" * 40


def pr(action: str, meaning: str | None = None, **data: Any) -> dict[str, Any]:
    expected = {"type": "pull_request", "project": HELLO, "branch": "master", "pull": 2,
                "patchset": 1, "action": action, **data}
    if meaning:
        expected["meaning"] = meaning
    return expected


def ignored(reason: str) -> dict[str, Any]:
    return {"ignored": reason}


CHECK_SUITE = ignored("zuulish does not act on 'check_suite' events")
ISSUE_COMMENT = ignored(f"comment on issue {HELLO}#1, not on a pull request")
PING = ignored("ping: GitHub checks that the webhook is set up")
TAG_DELETED = {"type": "push", "project": HELLO, "branch": None, "meaning": BRANCH,
               "ref": "refs/tags/simple-tag", "oldrev": SHA_TAG, "newrev": NULL,
               "deleted": True, "tag": True}
STATUS = ignored(f"no open pull request of {HELLO} known with head {SHA_TAG}")
CHECK_CREATED = ignored("check_run action 'created' ('Octocoders-linter' on "
                        f"{HELLO}) is not a trigger")

#: what each corpus file becomes
EXPECTED: dict[str, dict[str, Any]] = {
    "check_run.completed.1.json": {"type": "check_run", "action": "completed", "project": HELLO,
                                   "pull": 2, "check": "github-actions:Octocoders-linter:failure"},
    "check_run.completed.2.json": {"type": "check_run", "action": "completed", "project": HELLO,
                                   "pull": 2, "check": ":Octocoders-linter:success"},
    "check_run.completed.3.json": {"type": "check_run", "action": "completed", "project": HELLO,
                                   "pull": 2, "check_name": "Octocoders-linter"},
    "check_run.created.1.json": CHECK_CREATED,
    "check_run.created.2.json": CHECK_CREATED,
    "check_run.created.3.json": CHECK_CREATED,
    "check_run.requested_action.json": {
        "type": "check_run", "action": "requested_action", "project": "electron/electron",
        "pull": 26764, "identifier": "lgtm|26764", "check_name": "API Review"},
    "check_run.rerequested.1.json": {
        "type": "check_run", "action": "rerequested", "project": "github/hello-world",
        "pull": None, "branch": "master", "ref": "refs/heads/master",
        "newrev": "d6fde92930d4715a2b49857d24b940956b26d2d3", "check": ":randscape:neutral"},
    "check_run.rerequested.2.json": {
        "type": "check_run", "action": "rerequested", "project": "github/hello-world",
        "pull": None, "branch": "master", "account": "octocat"},
    "check_suite.completed.1.json": CHECK_SUITE,
    "check_suite.completed.2.json": CHECK_SUITE,
    "check_suite.completed.3.json": CHECK_SUITE,
    "check_suite.completed.4.json": CHECK_SUITE,
    "check_suite.requested.1.json": CHECK_SUITE,
    "check_suite.requested.2.json": CHECK_SUITE,
    "check_suite.requested.3.json": CHECK_SUITE,
    "check_suite.rerequested.1.json": CHECK_SUITE,
    "check_suite.rerequested.2.json": CHECK_SUITE,
    "issue_comment.created.1.json": ISSUE_COMMENT,
    "issue_comment.created.2.json": ISSUE_COMMENT,
    "issue_comment.created.3.json": ISSUE_COMMENT,
    "issue_comment.created.4.json": ISSUE_COMMENT,
    "issue_comment.created.5.json": ISSUE_COMMENT,
    "ping.1.json": PING,
    "ping.2.json": PING,
    "ping.3.json": PING,
    "ping.4.json": PING,
    "pull_request.closed.1.json": pr("closed", ABANDONED, account="Codertocat"),
    "pull_request.closed.2.json": pr("closed", ABANDONED),
    "pull_request.edited.json": {
        "type": "pull_request", "action": "edited", "project": "baxterthehacker/public-repo",
        "branch": "master", "pull": 1, "patchset": 1, "changed_fields": ["title"],
        "account": "baxterthehacker"},
    "pull_request.labeled.1.json": pr("labeled", label="bug"),
    "pull_request.labeled.2.json": pr("labeled", label="bug", labels=["bug"]),
    "pull_request.opened.1.json": pr("opened", NEW, head_sha=SHA_PR),
    "pull_request.opened.2.json": pr("opened", NEW),
    "pull_request.opened.3.json": pr("opened", NEW),
    "pull_request.opened.4.json": pr("opened", NEW),
    "pull_request.reopened.1.json": pr("reopened", NEW),
    "pull_request.reopened.2.json": pr("reopened", NEW),
    "pull_request.synchronize.json": pr("changed", NEW),
    "pull_request_review.submitted.1.json": {
        "type": "pull_request_review", "action": "submitted", "project": HELLO,
        "branch": "master", "pull": 2, "patchset": 1, "state": "commented"},
    "pull_request_review.submitted.2.json": {
        "type": "pull_request_review", "action": "submitted", "state": "commented", "pull": 2},
    "pull_request_review.submitted.3.json": {
        "type": "pull_request_review", "action": "submitted", "state": "commented", "pull": 2},
    "push.1.json": {"type": "push", "project": HELLO, "branch": None, "meaning": BRANCH,
                    "ref": "refs/tags/simple-tag", "oldrev": NULL, "newrev": SHA_TAG,
                    "created": True, "tag": True, "pull": None},
    "push.2.json": TAG_DELETED,
    "push.3.json": TAG_DELETED,
    "push.4.json": TAG_DELETED,
    "push.5.json": {"type": "push", "project": HELLO, "branch": "master", "meaning": BRANCH,
                    "ref": "refs/heads/master", "oldrev": NULL, "newrev": SHA_TAG,
                    "tag": False, "installation": 1},
    "push.6.json": {"type": "push", "project": HELLO, "branch": "master",
                    "ref": "refs/heads/master", "created": True},
    "push.7.json": TAG_DELETED,
    "status.1.json": STATUS,
    "status.2.json": STATUS,
    "status.3.json": STATUS,
    "status.4.json": STATUS,
}

#: properties GitHub added to its payloads after these (older) examples were taken;
#: the schemas of 7.6.1 require them. Anything else the schemas say fails the test.
ADDED_LATER = {"custom_properties", "is_template", "topics", "visibility",
               "web_commit_signoff_required", "active_lock_reason", "auto_merge",
               "performed_via_github_app", "reactions", "description", "deliveries_url",
               "draft"}
#: pull_request.edited.json is Zulip's 2017 fixture (the examples have no edited one)
OLD_SHAPE = ADDED_LATER | {"archived", "author_association", "has_projects", "labels",
                           "license", "node_id", "rebaseable", "requested_reviewers",
                           "requested_teams"}


def test_every_corpus_file_has_an_expected_outcome() -> None:
    files = corpus_files()
    if not files:
        pytest.skip("the GitHub corpus is not here")
    assert sorted(EXPECTED) == files


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_payload_becomes_its_trigger_event(name: str, intake: Intake,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    expected = dict(EXPECTED[name])
    caplog.set_level(logging.INFO, logger="zuulish.drivers.github")
    delivery = intake.receive(event_of(name), corpus_body(name))
    intake.run()
    outcome = intake.outcome(delivery) or ""
    rows = intake.events()
    if "ignored" in expected:
        assert rows == []
        assert outcome.startswith("ignored: " + expected["ignored"])
        assert f"delivery {delivery} ({event_of(name)}): ignored: " in caplog.text
        return
    assert len(rows) == 1, outcome
    row = rows[0]
    assert outcome == f"stored event(s) {row.id}"
    assert row.connection == "github"
    assert row.data["delivery"] == delivery
    seen = {"type": row.type, "project": row.project, "branch": row.branch,
            "patchset": row.patchset, "pull": row.data.get("pull_number"), **row.data}
    assert {key: seen.get(key) for key in expected} == expected
    assert (row.change_number is None) == (expected.get("pull") is None)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_payload_is_what_githubs_schemas_describe(name: str) -> None:
    errors = schema_errors(event_of(name), corpus_payload(name))
    if not errors:
        return
    missing = missing_properties(errors)
    assert missing is not None, [e.message for e in errors]
    allowed = OLD_SHAPE if name == "pull_request.edited.json" else ADDED_LATER
    assert missing <= allowed, f"{name} lacks {sorted(missing - allowed)}"
