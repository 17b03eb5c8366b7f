"""A pipeline's ``require``/``reject`` for a Gerrit connection, as Zuul documents
them: votes by label and value, by whom and how long ago; open, current patch set,
work in progress, status and hashtags. Bad settings are refused at their line."""

from __future__ import annotations

import pytest

from tests.unit.requirements.helpers import build, enter
from zuulish.model import Change, ChangeKey, ChangeStatus
from zuulish.model.change import Vote

NOW = 1_700_100_000.0
HOUR = 3600.0


def change(*votes: Vote, status: ChangeStatus = ChangeStatus.NEW, wip: bool = False,
           hashtags: tuple[str, ...] = ()) -> Change:
    return Change(ChangeKey("review", 7), "org/app", "main", 2, "c0ffee", status=status,
                  votes=votes, wip=wip, hashtags=hashtags)


def gate(require: str = "", reject: str = ""):
    return build("gerrit", require, reject)


def test_openstacks_gate_needs_zuuls_verified_and_a_workflow_vote() -> None:
    built = gate("        open: True\n        current-patchset: True\n        approval:\n"
                 "          - Verified: [1, 2]\n            username: zuul\n"
                 "          - Workflow: 1\n")
    zuul_ok = Vote("Verified", 1, "zuul", "zuul@example.org", NOW - HOUR)
    approved = Vote("Workflow", 1, "bob", "bob@example.org", NOW - HOUR)
    assert enter(built, change(zuul_ok, approved), NOW) is None
    assert enter(built, change(zuul_ok), NOW) == \
        "change 7 does not meet the requirements of check: needs Workflow: 1"
    someone_else = Vote("Verified", 2, "ci-bot", "", NOW)
    assert "needs Verified: 1 or 2 by a user matching 'zuul'" in \
        enter(built, change(someone_else, approved), NOW)


def test_a_vote_must_be_one_of_the_values_not_at_least_it() -> None:
    built = gate("        approval:\n          - Code-Review: 2\n")
    assert enter(built, change(Vote("Code-Review", 2, "bob")), NOW) is None
    assert "needs Code-Review: 2" in enter(built, change(Vote("Code-Review", 1, "bob")), NOW)


def test_email_and_a_vote_without_a_label() -> None:
    built = gate("        approval:\n          - email: ^.*@example\\.org$\n")
    assert enter(built, change(Vote("Code-Review", 1, "bob", "bob@example.org")), NOW) is None
    assert "needs a vote by an email matching '^.*@example\\\\.org$'" in \
        enter(built, change(Vote("Code-Review", 1, "eve", "eve@example.com")), NOW)


def test_newer_than_and_older_than_count_from_the_clock() -> None:
    fresh = gate("        approval:\n          - Verified: 1\n            newer-than: 48h\n")
    old_enough = gate("        approval:\n          - Verified: 1\n            older-than: 1h\n")
    recent = change(Vote("Verified", 1, "zuul", granted_on=NOW - 2 * HOUR))
    stale = change(Vote("Verified", 1, "zuul", granted_on=NOW - 3 * 24 * HOUR))
    assert enter(fresh, recent, NOW) is None
    assert "needs Verified: 1 newer than 48h" in enter(fresh, stale, NOW)
    assert enter(old_enough, recent, NOW) is None
    assert "older than 1h" in enter(old_enough, recent, NOW - 1.5 * HOUR)
    # a vote the forge did not date cannot be shown to be recent
    assert "newer than 48h" in enter(fresh, change(Vote("Verified", 1, "zuul")), NOW)


def test_reject_any_negative_vote() -> None:
    built = gate(reject="        approval:\n          - Code-Review: [-1, -2]\n")
    assert enter(built, change(Vote("Code-Review", 2, "bob")), NOW) is None
    assert enter(built, change(Vote("Code-Review", -1, "eve")), NOW) == \
        "change 7 is kept out of check by Code-Review: -1 or -2"


def test_wip_and_status() -> None:
    not_wip = gate("        wip: false\n")
    assert enter(not_wip, change(), NOW) is None
    assert "needs wip: false" in enter(not_wip, change(wip=True), NOW)
    kept = gate(reject="        wip: true\n")
    assert "kept out of check by wip: true" in enter(kept, change(wip=True), NOW)
    merged = gate("        status: MERGED\n")
    assert "needs status: MERGED" in enter(merged, change(), NOW)


def test_hashtags_each_required_and_any_rejects() -> None:
    built = gate("        hashtags: [^backport$, stable]\n",
                 reject="        hashtags: [^hold$, {regex: ^team-, negate: true}]\n")
    assert enter(built, change(hashtags=("backport", "stable")), NOW) == \
        "change 7 is kept out of check by a hashtag matching not '^team-'"
    required = gate("        hashtags: [^backport$, stable]\n",
                    reject="        hashtags: ^hold$\n")
    assert enter(required, change(hashtags=("backport", "team-stable")), NOW) is None
    assert "needs a hashtag matching 'stable'" in \
        enter(required, change(hashtags=("backport", "team-x")), NOW)
    assert "kept out of check by a hashtag matching '^hold$'" in \
        enter(required, change(hashtags=("backport", "stable", "hold")), NOW)


def test_open_and_current_patchset() -> None:
    built = gate("        open: true\n        current-patchset: true\n")
    assert enter(built, change(), NOW) is None
    assert "needs open: true" in enter(built, change(status=ChangeStatus.ABANDONED), NOW)


@pytest.mark.parametrize("require, line, message", [
    ("        approval:\n          - Verified: 1\n            username: '(zuul'\n", 11,
     "approval 'username' '(zuul' is not a valid regular expression"),
    ("        approval:\n          - Verified: 1\n            newer-than: 48\n", 11,
     "approval 'newer-than': 48 is not a duration: give a number with a unit"),
    ("        approval:\n          - Verified: 1\n            older-than: 2 weeks\n", 11,
     "'older-than': '2 weeks' is not a duration"),
    ("        approval:\n          - Verified: high\n", 10,
     "approval 'Verified' must be a vote (a number such as 2 or -1)"),
    ("        label: [mergeit]\n", 9,
     "unknown attribute 'label' in pipeline 'check' require 'review'"),
    ("        wip: perhaps\n", 9, "'wip' must be true or false, not 'perhaps'"),
    ("        status: pending\n", 9, "status must be a change status (NEW, MERGED, "
                                      "ABANDONED), not 'pending'"),
    ("        hashtags: '[a'\n", 9, "hashtags '[a' is not a valid regular expression"),
])
def test_bad_requirements_are_refused_at_their_line(require: str, line: int,
                                                    message: str) -> None:
    [error] = gate(require).errors
    assert (error.file, error.line) == ("config/zuul.yaml", line), error
    assert message in error.message
