"""A pipeline's ``require``/``reject`` for a GitHub connection, as Zuul documents
them: reviews (type, author, permission, age), labels, commit statuses and check
runs, open, merged, draft. Bad settings are refused at their line."""

from __future__ import annotations

import pytest

from tests.unit.requirements.helpers import build, enter
from zuulish.model import Change, ChangeKey, ChangeStatus
from zuulish.model.change import Review

NOW = 1_700_100_000.0
DAY = 86400.0


def pull(*reviews: Review, labels: tuple[str, ...] = (), statuses: tuple[str, ...] = (),
         check_runs: tuple[str, ...] = (), draft: bool = False,
         status: ChangeStatus = ChangeStatus.NEW) -> Change:
    return Change(ChangeKey("review", 12), "org/app", "main", 1, "c0ffee", status=status,
                  reviews=reviews, labels=labels, statuses=statuses, check_runs=check_runs,
                  draft=draft, display="org/app#12")


def gate(require: str = "", reject: str = ""):
    return build("github", require, reject)


def test_ansibles_gate_needs_a_writers_approval_a_label_and_the_check_status() -> None:
    built = gate("        review:\n          - permission: write\n            type: approved\n"
                 "        label:\n          - mergeit\n"
                 "        status: \"softwarefactory-project-zuul\\\\[bot\\\\]:ansible/check"
                 ":success\"\n        open: True\n        current-patchset: True\n")
    approval = Review("maintainer", "approved", NOW - DAY, "maintain")
    ready = pull(approval, labels=("mergeit",),
                 statuses=("softwarefactory-project-zuul[bot]:ansible/check:success",))
    assert enter(built, ready, NOW) is None
    no_label = pull(approval, statuses=ready.statuses)
    assert enter(built, no_label, NOW) == \
        "change org/app#12 does not meet the requirements of check: needs label 'mergeit'"
    by_reader = pull(Review("fan", "approved", NOW, "read"), labels=("mergeit",),
                     statuses=ready.statuses)
    assert "needs a review approved by a user with write permission" in \
        enter(built, by_reader, NOW)
    failing = pull(approval, labels=("mergeit",),
                   statuses=("softwarefactory-project-zuul[bot]:ansible/check:failure",))
    assert "needs status 'softwarefactory-project-zuul\\\\[bot\\\\]:ansible/check:success'" \
        in enter(built, failing, NOW)


def test_a_comment_after_an_approval_leaves_the_approval_standing() -> None:
    built = gate("        review:\n          - type: approved\n")
    approved_then_commented = pull(Review("bob", "approved", NOW - 2 * DAY, "write"),
                                   Review("bob", "commented", NOW - DAY, "write"))
    assert enter(built, approved_then_commented, NOW) is None
    approved_then_changes = pull(Review("bob", "approved", NOW - 2 * DAY, "write"),
                                 Review("bob", "changes_requested", NOW - DAY, "write"))
    assert "needs a review approved" in enter(built, approved_then_changes, NOW)


def test_reject_changes_requested_and_review_age_and_username() -> None:
    built = gate("        review:\n          - username: ^core-\n            newer-than: 7d\n",
                 reject="        review:\n          - type: changes_requested\n")
    fresh = Review("core-bob", "approved", NOW - DAY, "write")
    assert enter(built, pull(fresh), NOW) is None
    stale = Review("core-bob", "approved", NOW - 8 * DAY, "write")
    assert "needs a review by a user matching '^core-' newer than 7d" in \
        enter(built, pull(stale), NOW)
    blocked = pull(fresh, Review("eve", "changes_requested", NOW, "read"))
    assert enter(built, blocked, NOW) == \
        "change org/app#12 is kept out of check by a review changes_requested"


def test_labels_all_required_any_rejects() -> None:
    built = gate("        label: [ready, tested]\n", reject="        label: [hold, wip]\n")
    assert enter(built, pull(labels=("ready", "tested", "docs")), NOW) is None
    assert "needs label 'tested'" in enter(built, pull(labels=("ready",)), NOW)
    assert "kept out of check by label 'wip'" in \
        enter(built, pull(labels=("ready", "tested", "wip")), NOW)


def test_status_matches_a_commit_status_or_a_check_run_in_full() -> None:
    built = gate("        status: ['zuul\\[bot\\]:check:success', 'ci:lint:success']\n",
                 reject="        status: .*:failure\n")
    assert enter(built, pull(check_runs=("ci:lint:success",)), NOW) is None
    assert enter(built, pull(statuses=("zuul[bot]:check:success",)), NOW) is None
    assert "needs status" in enter(built, pull(statuses=("zuul[bot]:check:success-ish",)),
                                   NOW)
    assert "kept out of check by status '.*:failure'" in \
        enter(built, pull(statuses=("zuul[bot]:check:success", "ci:docs:failure")), NOW)


def test_draft_merged_and_open() -> None:
    built = gate("        draft: false\n        open: true\n", reject="        merged: true\n")
    assert enter(built, pull(), NOW) is None
    assert "needs draft: false" in enter(built, pull(draft=True), NOW)
    assert "needs open: true" in enter(built, pull(status=ChangeStatus.MERGED), NOW)


@pytest.mark.parametrize("require, line, message", [
    ("        review:\n          - type: approve\n", 10,
     "review type 'approve' is not a GitHub review state; did you mean 'approved'?"),
    ("        review:\n          - permission: owner\n", 10,
     "review permission must be read, write, admin, not 'owner'"),
    ("        review:\n          - newer-than: soon\n", 10, "'newer-than': 'soon' is not a "
                                                            "duration"),
    ("        review:\n          - state: approved\n", 10,
     "unknown attribute 'state' in pipeline 'check' require 'review' review"),
    ("        review:\n          - username: '*bot'\n", 10,
     "review 'username' '*bot' is not a valid regular expression"),
    ("        status: 'zuul[bot:check:success'\n", 9,
     "status 'zuul[bot:check:success' is not a valid regular expression"),
    ("        approval:\n          - Verified: 1\n", 9,
     "unknown attribute 'approval' in pipeline 'check' require 'review'"),
    ("        wip: true\n", 9, "unknown attribute 'wip'"),
    ("        draft: 1\n", 9, "'draft' must be true or false"),
])
def test_bad_requirements_are_refused_at_their_line(require: str, line: int,
                                                    message: str) -> None:
    [error] = gate(require).errors
    assert (error.file, error.line) == ("config/zuul.yaml", line), error
    assert message in error.message
