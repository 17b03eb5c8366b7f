"""Depends-On across the active window: a change whose needed change waits in the
queue ahead of it, beyond the window, waits too (it is not rejected). A needed
change that failed, left the queue or sits behind still rejects it, as in Zuul."""

from __future__ import annotations

from dataclasses import replace

from tests.fakes.gate_world import GateWorld, SimChange
from tests.unit.test_gate_planning import buildset, item, queue
from zuulish.model import QueueItem, QueueOptions
from zuulish.scheduler.actions import Report, StartBuildSet
from zuulish.scheduler.dependent import plan_dependent
from zuulish.scheduler.subqueues import Footprint

SMALL_WINDOW = {"window": 2, "window-floor": 1}


def lost(actions: list) -> list[int]:
    return [a.item_id for a in actions if isinstance(a, Report) and "depends on" in a.message]


def test_an_item_needing_a_change_beyond_the_window_waits_without_a_build_set() -> None:
    q = queue(item(1), item(2), item(3), item(4, needs=(3,)), window=2)
    assert plan_dependent(q, set(), set()) == [StartBuildSet(1, ()), StartBuildSet(2, (1,))]


def test_once_its_needed_change_enters_the_window_the_item_follows() -> None:
    q = queue(item(3, buildset(3, (), {"unit": None})), item(4, needs=(3,)), window=2)
    assert plan_dependent(q, set(), set()) == [StartBuildSet(4, (3,))]


def test_a_needed_change_that_failed_inside_the_window_still_rejects_the_item() -> None:
    q = queue(item(1, buildset(1, (), {"unit": "FAILURE"})), item(2), item(3, needs=(1,)),
              window=2)
    assert lost(plan_dependent(q, set(), set())) == [3]


def test_a_needed_change_behind_the_item_is_not_ahead_of_it() -> None:
    # 3 came back with a new patch set, behind 2 that needs it
    q = queue(item(1), item(2, needs=(3,)), item(3), window=1)
    assert lost(plan_dependent(q, set(), set())) == [2]


def test_a_needed_change_out_of_the_queue_rejects_the_item_wherever_it_waits() -> None:
    q = queue(item(1), item(2), item(4, needs=(3,)), window=1)
    assert lost(plan_dependent(q, set(), set())) == [4]


def test_an_item_whose_needed_change_fails_behind_a_running_head_is_held_back() -> None:
    # 2 fails on top of 1, whose result is not known: 1 may be the cause, and 2 be
    # restarted without it. 3 (needing 2) is neither rejected nor tested without 2;
    # 4 behind is tested without 2 and 3.
    q = queue(item(1, buildset(1, (), {"unit": None})),
              item(2, buildset(2, (1,), {"unit": "FAILURE"})),
              item(3, buildset(3, (1, 2), {"unit": None}), needs=(2,)),
              item(4, buildset(4, (1, 2, 3), {"unit": None})))
    assert plan_dependent(q, set(), set()) == [StartBuildSet(4, (1,))]


def test_once_the_head_fails_the_needed_change_restarts_and_so_does_the_item() -> None:
    q = queue(item(2, buildset(2, (1,), {"unit": "FAILURE"})),
              item(3, buildset(3, (1, 2), {"unit": None}), needs=(2,)))
    assert plan_dependent(q, set(), set()) == [StartBuildSet(2, ()), StartBuildSet(3, (2,))]


def test_an_item_held_back_is_rejected_when_its_needed_change_is() -> None:
    q = queue(item(2, buildset(2, (), {"unit": "FAILURE"})),
              item(3, buildset(3, (2,), {"unit": None}), needs=(2,)),
              item(4, needs=(3,)))
    actions = plan_dependent(q, set(), set())
    assert Report(2, "failure") in actions and lost(actions) == [3, 4]


def on(project: str, it: QueueItem) -> QueueItem:
    it.change = replace(it.change, project=project)
    return it


def test_a_cycle_needing_a_change_beyond_the_window_waits_whole_with_subqueues() -> None:
    # Sub-queues and cycles: 3 and 4 (repo b) need each other, and 4 needs 2 (repo
    # a), which waits beyond the window behind 1. The cycle's first member waits for
    # nothing in its own repo, but it cannot be tested without 2: the cycle waits.
    q = queue(on("a", item(1)), on("a", item(2)), on("b", item(3, needs=(4,))),
              on("b", item(4, needs=(3, 2))), window=1)
    q.options = QueueOptions(allow_circular_dependencies=True, independent_subqueues=True)
    feet = {n: Footprint(frozenset({r}), frozenset({r}))
            for n, r in ((1, "a"), (2, "a"), (3, "b"), (4, "b"))}
    assert plan_dependent(q, set(), set(), feet) == [StartBuildSet(1, ())]


def test_a_change_needing_one_that_waits_beyond_the_window_waits_and_merges() -> None:
    # Issue 17, fault 1: A1 (a), B1 and B2 (b), then A2 (a) with Depends-On: B2,
    # approved in that order with window 2. B2 and A2 wait beyond the window; A2 was
    # rejected at once ("no longer ahead of it in the queue") and B2 merged after.
    world = GateWorld(repos=["a", "b"], nodes=10, window=SMALL_WINDOW)
    try:
        for number, repo, needs in ((1, "a", ()), (2, "b", ()), (3, "b", ()), (4, "a", (3,))):
            world.add_change(SimChange(number, repo, (f"src/{number}.py",), False,
                                       float(number), needs=needs))
        world.run()
        assert world.forge.reports == [(n, "success", "SUCCESS") for n in (1, 2, 3, 4)], \
            world.forge.messages
        assert [m.number for m in world.forge.merges] == [1, 2, 3, 4]
        assert world.queued() == 0
        assert world.forge.violations == []
    finally:
        world.close()


def test_a_change_is_not_rejected_when_what_it_needs_fails_only_behind_a_bad_change() -> None:
    # 2's state (holding the bad 1) failed before 1's did; 3, needing 2, was rejected
    # at once although 2 was restarted without 1 and merged.
    world = GateWorld(repos=["a", "b"], nodes=10)
    try:
        world.executor.job_seconds = {"test-a": 1800.0, "test-b": 600.0}
        for number, repo, bad, needs in ((1, "a", True, ()), (2, "b", False, ()),
                                         (3, "b", False, (2,))):
            world.add_change(SimChange(number, repo, (f"src/{number}.py",), bad,
                                       float(number), needs=needs))
        world.run()
        assert world.forge.reports == [(1, "failure", "FAILURE"), (2, "success", "SUCCESS"),
                                       (3, "success", "SUCCESS")], world.forge.messages
        assert [m.number for m in world.forge.merges] == [2, 3]
        assert world.forge.violations == []
    finally:
        world.close()
