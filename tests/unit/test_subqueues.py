"""Independent sub-queues: items whose repositories do not meet are not serialised."""

from __future__ import annotations

from dataclasses import replace

from tests.unit.test_gate_planning import buildset, item, queue
from zuulish.model import ChangeKey, QueueItem
from zuulish.scheduler.actions import Report, StartBuildSet
from zuulish.scheduler.dependent import plan_dependent
from zuulish.scheduler.subqueues import Ahead, Footprint, items_ahead


def on(project: str, it: QueueItem) -> QueueItem:
    it.change = replace(it.change, project=project)
    return it


def fp(changes: str, *sees: str) -> Footprint:
    return Footprint(frozenset({changes}), frozenset({changes, *sees}))


def test_without_footprints_an_item_depends_on_every_item_ahead() -> None:
    items = [item(1), item(2), item(3)]
    assert items_ahead(items, None) == {1: Ahead((), ()), 2: Ahead((1,), (1,)),
                                        3: Ahead((1, 2), (1, 2))}


def test_items_on_repos_that_do_not_meet_are_tested_apart() -> None:
    q = queue(on("a", item(1)), on("b", item(2)), on("a", item(3)))
    feet = {1: fp("a"), 2: fp("b"), 3: fp("a")}
    actions = plan_dependent(q, set(), set(), feet)
    assert actions == [StartBuildSet(1, ()), StartBuildSet(2, ()), StartBuildSet(3, (1,))]


def test_an_item_includes_what_changes_the_repos_its_jobs_see() -> None:
    # 2 changes b and its jobs check out a: it is tested on top of 1 (which changes a).
    items = [on("a", item(1)), on("b", item(2))]
    assert items_ahead(items, {1: fp("a"), 2: fp("b", "a")})[2] == Ahead((1,), (1,))


def test_an_item_waits_for_items_ahead_whose_jobs_see_its_repo() -> None:
    # 1's jobs saw b without 2, so 2 may not merge first; but 2's jobs never see a,
    # so its state need not hold 1 (and 1 failing does not restart it).
    items = [on("a", item(1)), on("b", item(2))]
    assert items_ahead(items, {1: fp("a", "b"), 2: fp("b")})[2] == Ahead((), (1,))
    q = queue(on("a", item(1, buildset(1, (), {"unit": None}))),
              on("b", item(2, buildset(2, (), {"unit": "SUCCESS"}))))
    assert plan_dependent(q, set(), set(), {1: fp("a", "b"), 2: fp("b")}) == []


def test_inclusion_is_not_transitive_through_unrelated_repos() -> None:
    # 2 (on b) sees a; 3 (on b) sees only b: it includes 2, but not 1 (on a).
    items = [on("a", item(1)), on("b", item(2)), on("b", item(3))]
    assert items_ahead(items, {1: fp("a"), 2: fp("b", "a"), 3: fp("b")})[3] == \
        Ahead((2,), (2,))


def test_a_needed_change_is_always_included() -> None:
    items = [on("a", item(1)), on("b", item(2, needs=(1,)))]
    assert items_ahead(items, {1: fp("a"), 2: fp("b")})[2] == Ahead((1,), (1,))
    assert items[1].change.needs == (ChangeKey("forge", 1),)


def test_failure_in_one_sub_queue_does_not_restart_the_other() -> None:
    q = queue(on("a", item(1, buildset(1, (), {"unit": "FAILURE"}))),
              on("b", item(2, buildset(2, (), {"unit": None}))),
              on("a", item(3, buildset(3, (1,), {"unit": None}))))
    feet = {1: fp("a"), 2: fp("b"), 3: fp("a")}
    actions = plan_dependent(q, set(), set(), feet)
    assert StartBuildSet(3, ()) in actions  # re-based without the failing item
    assert not any(isinstance(a, StartBuildSet) and a.item_id == 2 for a in actions)
    assert Report(1, "failure") in actions


def test_the_head_of_each_sub_queue_reports_without_waiting_for_the_other() -> None:
    q = queue(on("a", item(1, buildset(1, (), {"unit": None}))),
              on("b", item(2, buildset(2, (), {"unit": "SUCCESS"}))))
    actions = plan_dependent(q, set(), set(), {1: fp("a"), 2: fp("b")})
    assert actions == [Report(2, "success", merge=True)]


def test_the_window_counts_only_the_items_an_item_waits_for() -> None:
    q = queue(on("a", item(1)), on("a", item(2)), on("b", item(3)), window=1)
    actions = plan_dependent(q, set(), set(), {1: fp("a"), 2: fp("a"), 3: fp("b")})
    assert actions == [StartBuildSet(1, ()), StartBuildSet(3, ())]


def test_an_item_waits_outside_the_window_while_an_item_it_includes_does() -> None:
    # 3 (on b, seeing a) waits for 1 and 2: outside a window of 2. 4 (on c, seeing
    # b) waits for 3 alone, but its state must hold 3, so it waits outside too.
    q = queue(on("a", item(1)), on("a", item(2)), on("b", item(3)), on("c", item(4)),
              window=2)
    feet = {1: fp("a"), 2: fp("a"), 3: fp("b", "a"), 4: fp("c", "b")}
    assert items_ahead(q.items, feet)[4] == Ahead((3,), (3,))
    actions = plan_dependent(q, set(), set(), feet)
    assert actions == [StartBuildSet(1, ()), StartBuildSet(2, (1,))]


def test_an_item_without_a_footprint_depends_on_everything() -> None:
    items = [on("a", item(1)), on("b", item(2))]
    assert items_ahead(items, {1: fp("a")})[2] == Ahead((1,), (1,))
