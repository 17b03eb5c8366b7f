"""Batching with bisection: runs of items tested with one build set (pure planner)."""

from __future__ import annotations

from tests.unit.test_gate_planning import buildset, item, queue
from zuulish.model import BuildSet
from zuulish.scheduler.actions import Report, StartBuildSet, StartJobs
from zuulish.scheduler.batching import plan_batched


def merged(item_id: int, ahead: tuple[int, ...], result: str | None = "none") -> BuildSet:
    """A merged state; ``result`` None: its job runs; "none": not started."""
    if result == "none":
        return buildset(item_id, ahead)
    return buildset(item_id, ahead, {"unit": result})


def started(actions) -> list[int]:
    return [a.item_id for a in actions if isinstance(a, StartJobs)]


def test_only_every_nth_item_and_the_last_run_jobs() -> None:
    q = queue(*(item(n, merged(n, tuple(range(1, n)))) for n in range(1, 6)))
    assert started(plan_batched(q, set(), set(), 2)) == [2, 4, 5]


def test_new_items_get_states_on_every_item_ahead() -> None:
    actions = plan_batched(queue(item(1), item(2)), set(), set(), 4)
    assert actions == [StartBuildSet(1, ()), StartBuildSet(2, (1,))]


def test_a_passing_probe_merges_every_item_it_holds_to_its_state() -> None:
    q = queue(item(1, merged(1, ())), item(2, merged(2, (1,))),
              item(3, merged(3, (1, 2), "SUCCESS")), item(4, merged(4, (1, 2, 3), None)))
    actions = plan_batched(q, set(), set(), 3)
    reports = [a for a in actions if isinstance(a, Report)]
    assert reports == [Report(n, "success", merge=True, via=3) for n in (1, 2, 3)]


def test_a_failing_probe_tests_the_suspects_before_blaming_anyone() -> None:
    q = queue(item(1, merged(1, ())), item(2, merged(2, (1,))),
              item(3, merged(3, (1, 2), "FAILURE")), item(4, merged(4, (1, 2, 3))))
    actions = plan_batched(q, set(), set(), 3)
    assert started(actions) == [1, 2]  # the states ahead of the failure, at once
    assert not any(isinstance(a, (Report, StartBuildSet)) for a in actions)


def test_the_first_failing_state_after_a_passing_one_is_the_culprit() -> None:
    q = queue(item(1, merged(1, (), "SUCCESS")), item(2, merged(2, (1,), "FAILURE")),
              item(3, merged(3, (1, 2), "FAILURE")))
    actions = plan_batched(q, set(), set(), 3)
    assert Report(1, "success", merge=True, via=1) in actions
    assert StartBuildSet(3, (1,)) in actions  # re-based without the culprit
    assert not any(isinstance(a, Report) and a.item_id == 2 for a in actions)  # not head yet


def test_a_culprit_at_the_head_is_reported() -> None:
    q = queue(item(2, merged(2, (), "FAILURE")), item(3, merged(3, (2,))))
    actions = plan_batched(q, {1}, set(), 3)
    assert Report(2, "failure") in actions
    assert StartBuildSet(3, ()) in actions


def test_a_state_that_failed_while_a_later_state_holding_it_passed_is_not_blamed() -> None:
    # 1 flaked; 2's state holds 1 and passed: both merge to 2's state.
    q = queue(item(1, merged(1, (), "FAILURE")), item(2, merged(2, (1,), "SUCCESS")))
    actions = plan_batched(q, set(), set(), 2)
    assert [a for a in actions if isinstance(a, Report)] == [
        Report(1, "success", merge=True, via=2), Report(2, "success", merge=True, via=2)]


def test_long_runs_of_suspects_are_bisected() -> None:
    q = queue(*(item(n, merged(n, tuple(range(1, n)))) for n in range(1, 8)),
              item(8, merged(8, tuple(range(1, 8)), "FAILURE")))
    assert started(plan_batched(q, set(), set(), 8)) == [4]  # the middle of 1..7


def verified(it, at: float = 1.0):
    it.verified_at = at
    return it


def test_verify_first_unverified_items_neither_join_nor_block_the_chain() -> None:
    q = queue(item(1, merged(1, (), None)), verified(item(2, merged(2, (), "SUCCESS"))))
    actions = plan_batched(q, set(), set(), 4, verify_first=True)
    assert Report(2, "success", merge=True, via=2) in actions


def test_verify_first_a_verified_item_gets_a_state_on_the_chain() -> None:
    q = queue(verified(item(1)))
    assert plan_batched(q, set(), set(), 4, verify_first=True) == [StartBuildSet(1, ())]


def test_verify_first_a_dependent_change_is_verified_once_what_it_needs_is_chained() -> None:
    q = queue(item(1, merged(1, (), None)), item(2, needs=(1,)))
    assert not any(getattr(a, "item_id", 0) == 2
                   for a in plan_batched(q, set(), set(), 4, verify_first=True))
    # Verified, but not yet in the chain: outside the window.
    q = queue(verified(item(1)), item(2, needs=(1,)), window=0)
    assert not any(getattr(a, "item_id", 0) == 2
                   for a in plan_batched(q, set(), set(), 4, verify_first=True))
    q = queue(verified(item(1)), item(2, needs=(1,)))
    assert StartBuildSet(2, (1,)) in plan_batched(q, set(), set(), 4, verify_first=True)
    q = queue(item(2, needs=(1,)))  # what it needs left the queue without merging
    [report] = plan_batched(q, set(), set(), 4, verify_first=True)
    assert isinstance(report, Report) and "no longer in the queue" in report.message


def test_a_last_item_waits_to_join_a_run_while_a_probe_ahead_runs() -> None:
    q = queue(item(1, merged(1, (), None)), item(2, merged(2, (1,))))
    assert started(plan_batched(q, set(), set(), 4)) == []  # 2 waits for 1's result
    q = queue(item(1, merged(1, (), "SUCCESS")), item(2, merged(2, (1,))))
    assert started(plan_batched(q, set(), set(), 4)) == [2]
