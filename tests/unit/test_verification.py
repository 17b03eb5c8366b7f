"""Verify-first: unverified items tested in groups on the verified chain (pure planner)."""

from __future__ import annotations

import pytest

from tests.unit.test_batching import merged, started, verified
from tests.unit.test_gate_planning import item, queue
from zuulish.model import Build, BuildState, ChangeQueue
from zuulish.scheduler.actions import MarkVerified, Report, SetFailureRate, StartBuildSet, StartJobs
from zuulish.scheduler.batching import plan_batched
from zuulish.scheduler.verification import RATE_WEIGHT, best_group_size, observed


def plan(q: ChangeQueue, batch_size: int = 4, rate: float | None = 0.0) -> list:
    q.failure_rate = rate
    return plan_batched(q, set(), set(), batch_size, verify_first=True)


def test_new_items_form_one_group_on_the_chain() -> None:
    actions = plan(queue(verified(item(1, merged(1, (), None))), item(2), item(3)))
    assert StartBuildSet(2, (1,)) in actions
    assert StartBuildSet(3, (1, 2)) in actions  # 3's state holds 2: one group


def test_a_new_item_joins_a_group_that_has_not_started() -> None:
    actions = plan(queue(item(1), item(2, merged(2, ()))))
    assert StartBuildSet(1, (2,)) in actions  # group order need not be queue order
    assert not started(actions)  # a state is still being built


def test_groups_are_no_larger_than_the_failure_rate_allows() -> None:
    items = [item(n) for n in range(1, 6)]
    actions = plan(queue(*items), batch_size=8, rate=0.3)  # testing alone is cheapest
    assert [a for a in actions if isinstance(a, StartBuildSet)] == [
        StartBuildSet(n, ()) for n in range(1, 6)]
    actions = plan(queue(*(item(n) for n in range(1, 6))), batch_size=2)
    assert [a.ahead for a in actions if isinstance(a, StartBuildSet)] == [
        (), (1,), (), (3,), ()]


def test_only_the_last_member_runs_jobs_on_spare_nodes() -> None:
    actions = plan(queue(item(1, merged(1, ())), item(2, merged(2, (1,)))))
    assert [a for a in actions if isinstance(a, StartJobs)] == [
        StartJobs(2, 20, ("unit",), spare=True)]


def test_a_group_that_is_not_full_waits_while_another_waits_for_nodes() -> None:
    waiting = merged(1, ())
    waiting.builds["unit"] = Build("b1", waiting.id, "unit", BuildState.WAITING)
    q = queue(item(1, waiting), item(2, merged(2, ())))
    assert plan(q, batch_size=4) == []  # 2 waits for others to join it
    q = queue(item(1, merged(1, (), None)), item(2, merged(2, ())))  # 1 has a node
    assert StartJobs(2, 20, ("unit",), spare=True) in plan(q, batch_size=4)
    full = [item(1, waiting)] + [item(n, merged(n, tuple(range(2, n)))) for n in range(2, 6)]
    assert started(plan(queue(*full), batch_size=4)) == [5]  # full: starts anyway


def test_a_passing_group_verifies_every_member_in_order() -> None:
    q = queue(item(1, merged(1, ())), item(2, merged(2, (1,))),
              item(3, merged(3, (1, 2), "SUCCESS")))
    actions = plan(q, rate=0.1)
    assert actions[:3] == [MarkVerified(n, keep=True) for n in (1, 2, 3)]
    assert actions[3:] == [SetFailureRate(1, round(0.1 * (1 - RATE_WEIGHT) ** 3, 6))]


def test_the_chain_moved_so_the_states_are_not_kept() -> None:
    q = queue(verified(item(9, merged(9, (), None))), item(1, merged(1, ())),
              item(2, merged(2, (1,), "SUCCESS")))
    actions = plan(q)
    assert MarkVerified(1, keep=False) in actions and MarkVerified(2, keep=False) in actions


def test_a_failing_group_tests_its_members_states_before_blaming_anyone() -> None:
    q = queue(item(1, merged(1, ())), item(2, merged(2, (1,))),
              item(3, merged(3, (1, 2), "FAILURE")))
    actions = plan(q)
    assert started(actions) == [1, 2]
    assert not any(isinstance(a, (Report, MarkVerified)) for a in actions)


def test_the_first_failing_member_after_a_passing_one_is_rejected() -> None:
    q = queue(item(1, merged(1, (), "SUCCESS")), item(2, merged(2, (1,), "FAILURE")),
              item(3, merged(3, (1, 2), "FAILURE")))
    actions = plan(q, rate=0.1)
    assert MarkVerified(1, keep=True) in actions
    [report] = [a for a in actions if isinstance(a, Report)]
    assert (report.item_id, report.action, report.window) == (2, "failure", False)
    assert "fails on its own" in report.message and "change 1" in report.message
    assert SetFailureRate(1, round(observed(0.1, 1, 1), 6)) in actions
    assert not any(isinstance(a, Report) and a.item_id == 3 for a in actions)


def test_members_behind_a_rejected_one_are_tested_again_without_it() -> None:
    q = queue(verified(item(1, merged(1, (), None))), item(3, merged(3, (1, 2), "FAILURE")))
    assert StartBuildSet(3, (1,)) in plan(q)


def test_a_first_member_that_fails_is_rejected_at_once() -> None:
    q = queue(verified(item(1, merged(1, (), None))), item(2, merged(2, (1,), "FAILURE")))
    [report] = [a for a in plan(q) if isinstance(a, Report)]
    assert report.item_id == 2 and report.message.endswith("passed this way.")


def test_a_group_not_started_is_rebuilt_on_the_chain_as_it_is_now() -> None:
    q = queue(verified(item(1, merged(1, (), None))), item(2, merged(2, ())),
              item(3, merged(3, (2,))))
    actions = plan(q)
    assert StartBuildSet(2, (1,)) in actions and StartBuildSet(3, (1, 2)) in actions
    # Once its jobs run, it keeps its states.
    q = queue(verified(item(1, merged(1, (), None))), item(2, merged(2, ())),
              item(3, merged(3, (2,), None)))
    assert not any(isinstance(a, StartBuildSet) for a in plan(q))


def test_a_state_that_holds_an_item_that_left_is_rebuilt() -> None:
    q = queue(verified(item(3, merged(3, (), None))), item(2, merged(2, (1,), None)))
    assert StartBuildSet(2, (3,)) in plan(q)


def test_conflicts_are_reported_at_once() -> None:
    from tests.unit.test_gate_planning import buildset
    from zuulish.model import MergeState
    q = queue(item(1, merged(1, ())), item(2, buildset(2, (1,), merge_state=MergeState.CONFLICT)))
    [report] = [a for a in plan(q) if isinstance(a, Report)]
    assert (report.item_id, report.action, report.window) == (2, "merge-conflict", False)


@pytest.mark.parametrize(("rate", "size"), [(0.0, 8), (0.05, 4), (0.15, 2), (0.3, 1)])
def test_the_group_size_follows_the_failure_rate(rate: float, size: int) -> None:
    assert best_group_size(rate, 8) == size
    assert best_group_size(rate, 1) == 1


def test_the_failure_rate_is_a_moving_average_of_results() -> None:
    assert observed(0.5, 0, 0) == 0.5
    assert observed(0.5, 1, 0) == pytest.approx(0.5 * (1 - RATE_WEIGHT))
    assert observed(0.5, 0, 1) == pytest.approx(0.5 * (1 - RATE_WEIGHT) + RATE_WEIGHT)
    rate = 0.0
    for _ in range(500):
        rate = observed(rate, 3, 1)  # one in four fails
    assert rate == pytest.approx(0.25, abs=0.03)


def test_a_group_verified_behind_another_in_the_same_pass_gets_new_states() -> None:
    q = queue(item(1, merged(1, ())), item(2, merged(2, (1,), "SUCCESS")),
              item(3, merged(3, ())), item(4, merged(4, (3,), "SUCCESS")))
    actions = [a for a in plan(q) if isinstance(a, MarkVerified)]
    # 3 and 4 were tested without 1 and 2, which join the chain ahead of them.
    assert actions == [MarkVerified(1, keep=True), MarkVerified(2, keep=True),
                       MarkVerified(3, keep=False), MarkVerified(4, keep=False)]


def test_a_failure_to_be_run_again_keeps_the_group_started() -> None:
    from dataclasses import replace

    from zuulish.model import QueueOptions
    from zuulish.scheduler.flakes import with_flaky_retries
    q = queue(verified(item(9, merged(9, (), None))), item(1, merged(1, ())),
              item(2, merged(2, (1,), "FAILURE")))
    q = with_flaky_retries(replace(q, options=QueueOptions(retry_failed_jobs=1)))
    actions = plan(q)
    # Built before 9 joined the chain, but started: not rebuilt, and the failed job
    # of its probe runs again instead of anyone being blamed.
    assert not any(isinstance(a, (StartBuildSet, Report, MarkVerified)) for a in actions)
    assert StartJobs(2, 20, ("unit",), spare=True) in actions
