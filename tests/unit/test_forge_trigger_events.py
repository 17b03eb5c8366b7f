"""The built-in forge's trigger events, as the review commands record them."""

from __future__ import annotations

import pytest

from zuulish.drivers.git.trigger import parse_trigger
from zuulish.model.event import TriggerEvent


def test_a_pipeline_can_trigger_on_a_restored_change() -> None:
    [restored] = parse_trigger("forge", [{"event": "change-restored"}])
    event = TriggerEvent(id=1, connection="forge", type="change-restored", project="org/app",
                         branch="main", change_number=1, patchset=1, comment="Restored")
    assert restored.matches(event)
    assert not restored.matches(TriggerEvent(id=2, connection="forge", type="comment-added"))


def test_a_code_review_vote_does_not_match_the_gate_trigger() -> None:
    [gate] = parse_trigger("forge", [{"event": "comment-added",
                                      "approval": [{"Workflow": 1}]}])
    vote = TriggerEvent(id=1, connection="forge", type="comment-added", change_number=1,
                        comment="Code-Review+2", approvals={"Code-Review": 2})
    assert not gate.matches(vote)
    assert gate.matches(TriggerEvent(id=2, connection="forge", type="comment-added",
                                     approvals={"Code-Review": 2, "Workflow": 1}))


def test_an_unknown_event_names_the_nearest() -> None:
    with pytest.raises(ValueError, match="did you mean 'change-restored'"):
        parse_trigger("forge", [{"event": "change-restore"}])
