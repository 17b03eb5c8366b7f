"""Every Gerrit stream event of the corpus becomes the trigger event zuulish stores,
and bad input is ignored with a reason, never a crash."""

from __future__ import annotations

import json

import pytest

from tests.fakes.gerrit import STREAM_EVENTS, stream_line
from zuulish.drivers.gerrit.events import Ignored, NormalizedEvent, normalize

CHANGE_ID = "I3e7b1c5a9d2f4e6a8b0c1d3e5f7a9b2c4d6e8f01"


def event(name: str) -> NormalizedEvent:
    result = normalize(stream_line(name))
    assert isinstance(result, NormalizedEvent), result
    return result


def test_every_corpus_file_has_an_expectation_here() -> None:
    if not STREAM_EVENTS.is_dir():
        pytest.skip("no corpus")
    names = {p.name.removesuffix(".json") for p in STREAM_EVENTS.glob("*.json")}
    assert names == {"patchset-created", "comment-added.vote", "comment-added.recheck",
                     "change-merged", "ref-updated", "change-abandoned", "change-restored",
                     "wip-state-changed", "private-state-changed", "topic-changed",
                     "hashtags-changed"}


def test_patchset_created_keeps_kind_uploader_and_revision() -> None:
    e = event("patchset-created")
    assert (e.type, e.project, e.branch, e.change_number, e.patchset) == (
        "patchset-created", "example/widget", "master", 4321, 2)
    assert e.data["kind"] == "REWORK"
    assert e.data["uploader"] == e.data["account"] == "alice"
    assert e.data["author"] == "alice"
    assert e.data["revision"] == "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
    assert e.data["patchset_ref"] == "refs/changes/21/4321/2"
    assert e.data["change_id"] == CHANGE_ID
    assert e.data["topic"] == "widget-retry"
    assert e.data["wip"] is False
    assert e.data["event_created_on"] == 1700003601


def test_a_vote_is_an_approval_that_changed_with_its_old_value_kept() -> None:
    e = event("comment-added.vote")
    assert (e.type, e.change_number, e.patchset) == ("comment-added", 4321, 2)
    assert e.data["approvals"] == {"Code-Review": 2, "Workflow": 1}
    assert e.data["comment"] == "Patch Set 2: Code-Review+2 Workflow+1\n\n" \
                                "Thanks, looks good to me."
    assert e.data["account"] == "bob"
    assert {"label": "Workflow", "value": 1, "old_value": 0} in e.data["approval_details"]


def test_votes_of_servers_without_old_values_are_read_from_the_message() -> None:
    obj = json.loads(stream_line("comment-added.vote"))
    for approval in obj["approvals"]:
        del approval["oldValue"]
    e = normalize(obj)
    assert isinstance(e, NormalizedEvent)
    assert e.data["approvals"] == {"Code-Review": 2, "Workflow": 1}


def test_a_recheck_keeps_gerrits_patch_set_prefix_and_changes_no_vote() -> None:
    e = event("comment-added.recheck")
    assert e.data["comment"] == "Patch Set 2:\n\nrecheck"
    assert e.data["approvals"] == {}  # Code-Review 0 without oldValue: not a vote
    assert e.data["all_approvals"] == {"Code-Review": 0}
    assert e.data["account"] == "alice"


def test_change_merged_keeps_the_submitter_and_the_new_branch_tip() -> None:
    e = event("change-merged")
    assert (e.type, e.change_number, e.patchset) == ("change-merged", 4321, 2)
    assert e.data["account"] == "zuul"
    assert e.data["newrev"] == "5d4c3b2a1f0e9d8c7b6a59483726150f4e3d2c1b"
    assert e.data["status"] == "MERGED"


def test_ref_updated_of_a_branch_names_the_ref_and_both_revisions() -> None:
    e = event("ref-updated")
    assert (e.type, e.project, e.branch, e.change_number) == (
        "ref-updated", "example/widget", "master", None)
    assert e.data["ref"] == "refs/heads/master"
    assert e.data["oldrev"] == "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567"
    assert e.data["newrev"] == "5d4c3b2a1f0e9d8c7b6a59483726150f4e3d2c1b"
    assert e.data["account"] == "zuul"


def test_abandon_and_restore_keep_who_and_why() -> None:
    abandoned, restored = event("change-abandoned"), event("change-restored")
    assert (abandoned.type, abandoned.change_number, abandoned.patchset) == (
        "change-abandoned", 4330, 1)
    assert abandoned.data["account"] == "bob"
    assert abandoned.data["reason"].startswith("Superseded by")
    assert abandoned.data["status"] == "ABANDONED"
    assert (restored.type, restored.data["status"]) == ("change-restored", "NEW")
    assert restored.data["reason"] == "Still needed for the stable/2023.2 backport"


def test_wip_and_private_state_changes_say_the_new_state() -> None:
    wip, private = event("wip-state-changed"), event("private-state-changed")
    assert (wip.type, wip.change_number, wip.data["wip"]) == ("wip-state-changed", 4340, True)
    assert wip.data["account"] == "alice"
    assert (private.type, private.change_number, private.data["private"]) == (
        "private-state-changed", 4341, True)


def test_topic_and_hashtag_changes_have_no_patch_set() -> None:
    topic, tags = event("topic-changed"), event("hashtags-changed")
    assert (topic.type, topic.patchset) == ("topic-changed", None)
    assert (topic.data["topic"], topic.data["old_topic"]) == ("widget-retry-v2", "widget-retry")
    assert (tags.type, tags.patchset, tags.data["account"]) == ("hashtags-changed", None, "bob")
    assert tags.data["added"] == ["needs-backport"]
    assert tags.data["removed"] == []
    assert tags.data["hashtags"] == ["needs-backport", "retry"]


def test_html_safe_escapes_are_decoded() -> None:
    e = event("change-merged")
    assert e.data["subject"] == "Add retry with backoff to the widget fetcher"
    raw = json.loads(stream_line("change-merged"))
    assert "Don't retry" in raw["change"]["commitMessage"]  # \u0027 on the wire


def test_the_webhooks_plugins_objects_for_project_and_change_key_are_read() -> None:
    obj = json.loads(stream_line("comment-added.vote"))
    obj["project"] = {"name": "example/widget"}
    obj["changeKey"] = {"key": CHANGE_ID}
    del obj["change"]["id"]
    e = normalize(obj)
    assert isinstance(e, NormalizedEvent)
    assert (e.project, e.data["change_id"]) == ("example/widget", CHANGE_ID)
    assert e.key == event("comment-added.vote").key  # the same event, however it came


def test_numbers_sent_as_strings_by_old_servers_are_read() -> None:
    obj = json.loads(stream_line("patchset-created"))
    obj["change"]["number"], obj["patchSet"]["number"] = "4321", "2"
    e = normalize(obj)
    assert isinstance(e, NormalizedEvent)
    assert (e.change_number, e.patchset) == (4321, 2)


def test_a_bare_branch_name_in_ref_updated_is_taken_as_a_branch() -> None:
    obj = json.loads(stream_line("ref-updated"))
    obj["refUpdate"]["refName"] = "master"  # old Gerrit versions sent no refs/heads/
    e = normalize(obj)
    assert isinstance(e, NormalizedEvent)
    assert (e.branch, e.data["ref"]) == ("master", "refs/heads/master")


def test_a_tag_push_is_a_ref_update_without_a_branch() -> None:
    obj = json.loads(stream_line("ref-updated"))
    obj["refUpdate"]["refName"] = "refs/tags/1.0"
    e = normalize(obj)
    assert isinstance(e, NormalizedEvent)
    assert (e.branch, e.data["ref"]) == (None, "refs/tags/1.0")


@pytest.mark.parametrize("ref", ["refs/changes/21/4321/2", "refs/changes/21/4321/meta",
                                 "refs/users/01/1000001", "refs/sequences/changes"])
def test_gerrits_own_ref_updates_are_ignored_with_a_reason(ref: str) -> None:
    obj = json.loads(stream_line("ref-updated"))
    obj["refUpdate"]["refName"] = ref
    result = normalize(obj)
    assert isinstance(result, Ignored)
    assert ref in result.reason and "bookkeeping" in result.reason


@pytest.mark.parametrize(("line", "reason"), [
    (b'{"type":"comment-added","change":{"number":43', "not JSON"),
    (b"\xff\xfe garbage\n", "not UTF-8"),
    (b"[1, 2]\n", "not a JSON object"),
    (b"\n", "empty line"),
    (b'{"change": {}}\n', "no type"),
    (b'{"type":"reviewer-added"}\n', "reviewer-added events are not used"),
    (b'{"type":"patchset-created","project":"p"}\n', "change is missing"),
    (b'{"type":"patchset-created","project":"p","change":{"number":"x","branch":"m"}}\n',
     "change.number is not a number"),
    (b'{"type":"ref-updated"}\n', "refUpdate is missing"),
])
def test_bad_input_is_ignored_with_a_reason(line: bytes, reason: str) -> None:
    result = normalize(line)
    assert isinstance(result, Ignored)
    assert reason in result.reason


def test_a_bad_vote_value_is_a_reason_not_a_crash() -> None:
    obj = json.loads(stream_line("comment-added.vote"))
    obj["approvals"][0]["value"] = "plus two"
    result = normalize(obj)
    assert isinstance(result, Ignored)
    assert "Code-Review approval's value" in result.reason


def test_dropped_output_says_events_were_lost() -> None:
    result = normalize(b'{"type":"dropped-output","eventCreatedOn":1700000000}\n')
    assert isinstance(result, Ignored)
    assert result.lost_events


def test_identities_fit_the_store_however_long_the_names() -> None:
    obj = json.loads(stream_line("comment-added.vote"))
    obj["author"]["username"] = "x" * 300
    e = normalize(obj)
    assert isinstance(e, NormalizedEvent)
    assert len(e.key) <= 255
    assert e.key == normalize(obj).key  # and still the same for the same event
