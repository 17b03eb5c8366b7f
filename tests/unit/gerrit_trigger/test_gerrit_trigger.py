"""A Gerrit connection's pipeline triggers match Gerrit's stream events as Zuul
matches them; what Zuul would refuse is refused at its file and line."""

from __future__ import annotations

import pytest

from tests.corpus import CORPUS_ROOT
from tests.unit.gerrit_trigger.events import corpus_line, to_event
from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.drivers.registry import trigger_parsers
from zuulish.model import Change, ChangeKey, ChangeStatus, Pipeline
from zuulish.model.change import Vote
from zuulish.model.requirements import trigger_refusal

pytestmark = pytest.mark.skipif(not (CORPUS_ROOT / "gerrit").is_dir(),
                                reason="../shared/corpus is not beside this checkout")

NOW = 1_700_100_000.0


def build(trigger: str) -> Layout:
    """A layout whose ``check`` pipeline has ``trigger`` (YAML under ``gerrit:``)."""
    text = ("- pipeline:\n    name: check\n    manager: independent\n"
            "    trigger:\n      gerrit:\n" + trigger)
    tenant = TenantConfig("t", [TenantProject("gerrit", "config", True)])
    loader = ConfigLoader(tenant, {"gerrit": "gerrit"}, trigger_parsers())
    return loader.build({"config": ("main", {"zuul.yaml": text})})


def pipeline(trigger: str) -> Pipeline:
    built = build(trigger)
    assert built.errors == [], built.errors
    return built.pipelines["check"]


def fires(p: Pipeline, name: str, **extra: object) -> bool:
    event = to_event(corpus_line(name), **extra)
    return any(f.matches(event) for f in p.triggers)


def test_events_match_by_gerrit_type() -> None:
    p = pipeline("        - event: [patchset-created, change-restored]\n")
    assert fires(p, "patchset-created")
    assert fires(p, "change-restored")
    assert not fires(p, "comment-added.recheck")


def test_the_recheck_regex_of_openstack_matches_gerrits_comment() -> None:
    p = pipeline("        - event: comment-added\n          comment: "
                 "(?i)^(Patch Set [0-9]+:)?( [\\w\\\\+-]*)*(\\n\\n)?\\s*recheck\n")
    assert fires(p, "comment-added.recheck")
    assert not fires(p, "comment-added.vote")


def test_a_comment_is_also_searched_in_patchset_level_comments() -> None:
    p = pipeline("        - event: comment-added\n          comment: ^recheck$\n")
    assert not fires(p, "comment-added.vote")
    assert fires(p, "comment-added.vote", patchset_comments=["recheck"])


def test_approval_matches_any_vote_the_event_carries() -> None:
    p = pipeline("        - event: comment-added\n          approval:\n"
                 "            - Workflow: 1\n            - Code-Review: 2\n")
    assert fires(p, "comment-added.vote")
    # the recheck carries Code-Review 0 only
    assert not fires(p, "comment-added.recheck")
    # a standing vote repeated by Gerrit (no old value) also matches
    assert fires(p, "comment-added.recheck",
                 all_approvals={"Workflow": 1, "Code-Review": 2})


def test_approval_change_needs_the_vote_to_have_changed() -> None:
    p = pipeline("        - event: comment-added\n          approval-change:\n"
                 "            - Workflow: 1\n")
    assert fires(p, "comment-added.vote")
    unchanged = [{"label": "Workflow", "value": 1, "old_value": 1}]
    assert not fires(p, "comment-added.vote", approval_details=unchanged)
    assert not fires(p, "comment-added.recheck")


def test_username_and_email_are_the_events_account() -> None:
    by_bob = pipeline("        - event: comment-added\n          username: ^bob$\n")
    assert fires(by_bob, "comment-added.vote")
    assert not fires(by_bob, "comment-added.recheck")  # alice's
    by_mail = pipeline("        - event: comment-added\n"
                       "          email: [^.*?@example\\.com$, ^bob@]\n")
    assert fires(by_mail, "comment-added.vote")
    assert not fires(by_mail, "comment-added.recheck")
    # an event that does not say who did it matches no username
    assert not fires(by_bob, "comment-added.vote", account_username=None)


def test_zuuls_negated_regex_form_is_read() -> None:
    p = pipeline("        - event: comment-added\n"
                 "          username: {regex: ^zuul$, negate: true}\n")
    assert fires(p, "comment-added.vote")
    assert not fires(p, "comment-added.vote", account_username="zuul")


def test_branch_and_ref_match_at_their_start() -> None:
    p = pipeline("        - event: patchset-created\n          branch: mas\n")
    assert fires(p, "patchset-created")
    post = pipeline("        - event: ref-updated\n          ref: ^refs/heads/.*$\n")
    assert fires(post, "ref-updated")
    tags = pipeline("        - event: ref-updated\n          ref: ^refs/tags/.*$\n")
    assert not fires(tags, "ref-updated")


def test_a_deleted_ref_is_ignored_unless_asked_for() -> None:
    deleted = {**corpus_line("ref-updated")}
    deleted["refUpdate"] = {**deleted["refUpdate"], "newRev": "0" * 40}
    event = to_event(deleted)
    assert not pipeline("        - event: ref-updated\n").triggers[0].matches(event)
    keep = pipeline("        - event: ref-updated\n          ignore-deletes: false\n")
    assert keep.triggers[0].matches(event)


def test_hashtags_added_and_removed() -> None:
    added = pipeline("        - event: hashtags-changed\n          added: backport\n")
    assert fires(added, "hashtags-changed")
    assert not fires(added, "hashtags-changed", added=["retry"])
    removed = pipeline("        - event: hashtags-changed\n          removed: [wip]\n")
    assert not fires(removed, "hashtags-changed")
    assert fires(removed, "hashtags-changed", removed=["wip"])


def test_patchset_kind_selects_reworks() -> None:
    p = pipeline("        - event: patchset-created\n          kind: [REWORK]\n")
    assert fires(p, "patchset-created")
    assert not fires(p, "patchset-created", kind="TRIVIAL_REBASE")


def test_wip_topic_and_other_change_events_trigger() -> None:
    p = pipeline("        - event: [wip-state-changed, topic-changed, change-merged,"
                 " change-abandoned]\n")
    for name in ("wip-state-changed", "topic-changed", "change-merged", "change-abandoned"):
        assert fires(p, name), name


def change(*votes: Vote, status: ChangeStatus = ChangeStatus.NEW) -> Change:
    return Change(ChangeKey("gerrit", 4321), "example/widget", "master", 2, "a1b2c3",
                  status=status, votes=votes)


def admits(p: Pipeline, name: str, candidate: Change | None) -> str | None:
    """None when a matching entry admits ``candidate``, else why not."""
    event = to_event(corpus_line(name))
    matched = [f for f in p.triggers if f.matches(event)]
    assert matched
    return trigger_refusal(matched, candidate, NOW)


def test_openstacks_require_approval_on_a_trigger_asks_the_change() -> None:
    built = build("        - event: comment-added\n          require-approval:\n"
                  "            - Verified: [-1, -2]\n              username: zuul\n"
                  "          approval:\n            - Workflow: 1\n")
    assert built.errors == []
    [warning] = built.warnings
    assert warning.line == 7 and "'require-approval' is deprecated" in warning.message
    p = built.pipelines["check"]
    failed = Vote("Verified", -1, "zuul", "zuul@example.org", NOW - 60)
    assert admits(p, "comment-added.vote", change(failed)) is None
    refusal = admits(p, "comment-added.vote", change(Vote("Verified", -1, "alice")))
    assert refusal == "the trigger asks for Verified: -1 or -2 by a user matching 'zuul'"


def test_require_and_reject_on_a_trigger() -> None:
    p = pipeline("        - event: comment-added\n          require:\n            open: true\n"
                 "          reject:\n            approval:\n              - Code-Review: -2\n"
                 "        - event: patchset-created\n")
    assert admits(p, "comment-added.vote", change()) is None
    vetoed = change(Vote("Code-Review", -2, "carol"))
    assert admits(p, "comment-added.vote", vetoed) == \
        "the trigger asks for not Code-Review: -2"
    closed = change(status=ChangeStatus.ABANDONED)
    assert admits(p, "comment-added.vote", closed) == "the trigger asks for open: true"
    # an entry without requirements admits what it matches
    assert admits(p, "patchset-created", closed) is None


def test_a_ref_meets_no_trigger_requirement() -> None:
    p = pipeline("        - event: ref-updated\n          require:\n            open: true\n")
    assert admits(p, "ref-updated", None) == "the trigger asks for open: true"


def test_pending_check_is_accepted_and_said_to_never_fire() -> None:
    built = build("        - event: pending-check\n          uuid: 'zuul:check'\n")
    assert built.errors == []
    [warning] = built.warnings
    assert warning.line == 6 and "checks plugin" in warning.message
    p = built.pipelines["check"]
    event = to_event({"type": "pending-check", "change": {"number": 1}}, uuid="zuul:check")
    assert p.triggers[0].matches(event)


def test_old_spellings_are_read_with_a_warning() -> None:
    built = build("        - event: comment-added\n          comment_filter: recheck\n")
    assert built.errors == []
    [warning] = built.warnings
    assert "old spelling of 'comment'" in warning.message
    assert fires(built.pipelines["check"], "comment-added.recheck")


@pytest.mark.parametrize("trigger, line, message", [
    ("        - event: patchset-create\n", 6,
     "unknown Gerrit event 'patchset-create'; did you mean 'patchset-created'?"),
    ("        - event: comment-added\n          approvals:\n            - Workflow: 1\n", 7,
     "unknown attribute 'approvals' in a Gerrit trigger; did you mean 'approval'?"),
    ("        - event: comment-added\n          comment: '(recheck'\n", 7,
     "comment '(recheck' is not a valid regular expression"),
    ("        - event: comment-added\n          approval:\n            - Workflow: yes\n", 8,
     "approval 'Workflow' must be a vote such as 1 or -2"),
    ("        - event: patchset-created\n          kind: REBASE\n", 7,
     "unknown patch set kind 'REBASE'"),
    ("        - event: comment-added\n          require:\n            approval:\n"
     "              - Verified: 1\n                newer-than: 2 days\n", 10,
     "'newer-than': '2 days' is not a duration"),
    ("        - event: comment-added\n          require:\n            wip: maybe\n", 8,
     "trigger require 'wip' must be true or false"),
    ("        - event: comment-added\n          reject:\n            review: []\n", 8,
     "unknown attribute 'review' in trigger reject"),
    ("        - event: comment-added\n          require-approval:\n"
     "            - Verified: 1\n              username: '[zuul'\n", 9,
     "approval 'username' '[zuul' is not a valid regular expression"),
    ("        - branch: master\n", 6, "a Gerrit trigger entry needs an 'event'"),
    ("        - event: comment-added\n          ignore-deletes: sometimes\n", 7,
     "'ignore-deletes' must be true or false"),
])
def test_bad_trigger_entries_are_refused_at_their_line(trigger: str, line: int,
                                                       message: str) -> None:
    [error] = build(trigger).errors
    assert (error.file, error.line) == ("config/zuul.yaml", line), error
    assert message in error.message
