"""The requirement objects on their own: durations, GitHub's standing reviews, the
time they need, and how a pipeline's matched trigger entries admit a change."""

from __future__ import annotations

import pytest

from zuulish.model import Change, ChangeKey, ChangeStatus, EventFilter
from zuulish.model.change import Review, Vote
from zuulish.model.requirements import (
    Duration,
    HasVote,
    IsOpen,
    Requirements,
    parse_duration,
    standing_reviews,
    trigger_refusal,
)


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("30m", 1800), ("48h", 172800), ("2d", 172800), ("1w", 604800)])
def test_durations_in_zuuls_units(text: str, seconds: int) -> None:
    assert parse_duration(text) == Duration(text, seconds)


@pytest.mark.parametrize("value", ["48", "2 days", "h", "-1h", 48, "1y"])
def test_a_duration_without_a_unit_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="is not a duration: give a number with a unit"):
        parse_duration(value)


def test_each_reviewers_latest_review_stands_unless_it_only_comments() -> None:
    reviews = [Review("a", "changes_requested", 1.0), Review("a", "approved", 2.0),
               Review("b", "approved", 1.0), Review("b", "commented", 2.0),
               Review("c", "commented", 1.0), Review("c", "dismissed", 2.0)]
    assert sorted((r.user, r.state) for r in standing_reviews(reviews)) == [
        ("a", "approved"), ("b", "approved"), ("c", "dismissed")]


def test_an_age_bound_without_the_time_is_a_bug_not_a_pass() -> None:
    change = Change(ChangeKey("g", 1), "p", "main", 1, "c",
                    votes=(Vote("Verified", 1, "zuul", granted_on=100.0),))
    fresh = HasVote((("Verified", (1,)),), newer_than=parse_duration("1h"))
    with pytest.raises(ValueError, match="needs the current time"):
        fresh.met_by(change, None)
    assert fresh.met_by(change, 100.0 + 3600)
    assert not fresh.met_by(change, 100.0 + 3601)


class _Asking:
    """A trigger entry that asks the change to be open."""

    connection = "g"
    timer = None

    def matches(self, event: object) -> bool:
        return True

    def change_unmet(self, change: Change | None, now: float | None) -> list[str]:
        wanted = Requirements((IsOpen(True),))
        return wanted.describe() if change is None else wanted.unmet(change, now)


def test_one_matched_entry_that_admits_the_change_is_enough() -> None:
    closed = Change(ChangeKey("g", 1), "p", "main", 1, "c", status=ChangeStatus.ABANDONED)
    assert trigger_refusal([_Asking()], closed, 0.0) == "the trigger asks for open: true"
    assert trigger_refusal([_Asking(), EventFilter("g", ("x",))], closed, 0.0) is None
    assert trigger_refusal([_Asking()], None, 0.0) == "the trigger asks for open: true"
    assert trigger_refusal([], closed, 0.0) is None
