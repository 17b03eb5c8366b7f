"""Pipeline triggers for the built-in forge: Zuul's Gerrit-style entries."""

from __future__ import annotations

import pytest

from zuulish.drivers.git.trigger import parse_trigger
from zuulish.model import EventFilter, TriggerEvent

pytestmark = pytest.mark.store


def test_trigger_entries_become_event_filters() -> None:
    filters = parse_trigger("forge", [
        {"event": "patchset-created"},
        {"event": ["comment-added"], "comment": "(?i)^\\s*recheck\\s*$", "branch": "main"},
        {"event": "comment-added", "approval": [{"Workflow": 1}, {"Code-Review": "2"}]},
    ])
    assert filters == (
        EventFilter("forge", ("patchset-created",)),
        EventFilter("forge", ("comment-added",), comments=("(?i)^\\s*recheck\\s*$",),
                    branches=("main",)),
        EventFilter("forge", ("comment-added",),
                    approvals=(("Workflow", 1), ("Code-Review", 2))),
    )
    approved = TriggerEvent(id=1, connection="forge", type="comment-added", project="p",
                            branch="main", approvals={"Workflow": 1, "Code-Review": 2})
    assert filters[2].matches(approved) and not filters[0].matches(approved)


@pytest.mark.parametrize(("entries", "message"), [
    ([{"event": "patchset-create"}], "unknown event 'patchset-create'; did you mean "
                                     "'patchset-created'"),
    ([{"event": "comment-added", "coment": "x"}], "unknown trigger attribute 'coment'; "
                                                   "did you mean 'comment'"),
    ([{"event": "comment-added", "comment": "(recheck"}], "comment '(recheck' is not a valid "
                                                          "regular expression"),
    ([{"event": "ref-updated", "branch": ["main", "[x"]}], "branch '[x' is not a valid"),
    ([{"comment": "recheck"}], "needs an 'event'"),
    ([{"event": "comment-added", "approval": [{"Workflow": "yes"}]}],
     "approval 'Workflow' must be a number"),
    ({"event": "patchset-created"}, "must be a list of entries"),
    ([{"event": "ref-updated", "ref": "^refs/(heads"}], "ref '^refs/(heads' is not a valid"),
    ([{"event": "comment-added", "ref": "^refs/heads/.*$"}],
     "'ref' only applies to ref-updated events, not comment-added"),
    ([{"event": "ref-updated", "ignore-deletes": "no"}], "ignore-deletes must be true or false"),
])
def test_bad_trigger_entries_are_refused_with_a_hint(entries: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_trigger("forge", entries)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_ref_entries_match_ref_updates_by_ref_and_ignore_deletions_by_default() -> None:
    heads, every = parse_trigger("forge", [
        {"event": "ref-updated", "ref": "^refs/heads/.*$"},
        {"event": "ref-updated", "ignore-deletes": False}])

    def update(ref: str, newrev: str) -> TriggerEvent:
        return TriggerEvent(id=1, connection="forge", type="ref-updated", project="p",
                            branch=ref.removeprefix("refs/heads/"), ref=ref,
                            oldrev="a" * 40, newrev=newrev)

    assert heads.matches(update("refs/heads/main", "b" * 40))
    assert not heads.matches(update("refs/tags/1.0", "b" * 40))
    assert not heads.matches(update("refs/heads/main", "0" * 40))  # a deleted branch
    assert every.matches(update("refs/heads/main", "0" * 40))
