"""The dependent and independent managers' decisions, on pure model objects."""

from __future__ import annotations

from zuulish.model import (
    Build,
    BuildSet,
    BuildState,
    Change,
    ChangeKey,
    ChangeQueue,
    FrozenJob,
    JobGraph,
    MergeState,
    QueueItem,
    Window,
)
from zuulish.scheduler.actions import (
    DropAlternate,
    Report,
    SkipJobs,
    StartBuildSet,
    StartJobs,
    UseAlternate,
)
from zuulish.scheduler.dependent import plan_dependent
from zuulish.scheduler.independent import plan_independent
from zuulish.scheduler.serial import plan_serial


def change(n: int, needs: tuple[int, ...] = ()) -> Change:
    return Change(ChangeKey("forge", n), "org/app", "main", 1, f"{n:040x}",
                  needs=tuple(ChangeKey("forge", x) for x in needs))


def graph(*names: str, deps: dict[str, tuple[str, ...]] | None = None) -> JobGraph:
    g = JobGraph()
    for name in names:
        g.add(FrozenJob(name=name, dependencies=(deps or {}).get(name, ())))
    return g


def buildset(item_id: int, ahead: tuple[int, ...], results: dict[str, str | None] | None = None,
             merge_state: MergeState = MergeState.MERGED, jobs: JobGraph | None = None,
             voting: dict[str, bool] | None = None) -> BuildSet:
    bs = BuildSet(id=item_id * 10, item_id=item_id, ahead=ahead, merge_state=merge_state,
                  job_graph=jobs or graph("unit"))
    for name, result in (results or {}).items():
        bs.builds[name] = Build(f"b{item_id}{name}", bs.id, name,
                                BuildState.COMPLETED if result else BuildState.RUNNING,
                                voting=(voting or {}).get(name, True), result=result)
    return bs


def item(n: int, bs: BuildSet | None = None, needs: tuple[int, ...] = ()) -> QueueItem:
    return QueueItem(id=n, pipeline="gate", queue="q", change=change(n, needs),
                     enqueued_at=0.0, buildset=bs)


def queue(*items: QueueItem, window: int = 20) -> ChangeQueue:
    return ChangeQueue("gate", "q", window, list(items))


def test_new_items_are_built_on_every_item_ahead() -> None:
    actions = plan_dependent(queue(item(1), item(2), item(3)), set(), set())
    assert actions == [StartBuildSet(1, ()), StartBuildSet(2, (1,)), StartBuildSet(3, (1, 2))]


def test_items_outside_the_window_wait() -> None:
    actions = plan_dependent(queue(item(1), item(2), item(3), window=2), set(), set())
    assert actions == [StartBuildSet(1, ()), StartBuildSet(2, (1,))]


def test_ready_jobs_start_and_head_merges_when_all_voting_jobs_pass() -> None:
    q = queue(item(1, buildset(1, (), {"unit": "SUCCESS"})), item(2, buildset(2, (1,))))
    actions = plan_dependent(q, set(), set())
    assert Report(1, "success", merge=True) in actions
    assert StartJobs(2, 20, ("unit",)) in actions


def test_failed_item_restarts_followers_without_it() -> None:
    q = queue(item(1, buildset(1, (), {"unit": None})),
              item(2, buildset(2, (1,), {"unit": "FAILURE"})),
              item(3, buildset(3, (1, 2), {"unit": "SUCCESS"})))
    actions = plan_dependent(q, set(), set())
    assert StartBuildSet(3, (1,)) in actions
    assert not any(isinstance(a, Report) for a in actions)  # 2 waits for the head


def test_failing_item_is_reported_once_it_reaches_the_head() -> None:
    q = queue(item(2, buildset(2, (1,), {"unit": "FAILURE"})),
              item(3, buildset(3, (1,), {"unit": None})))
    actions = plan_dependent(q, merged_items={1}, merged_changes=set())
    assert actions == [Report(2, "failure")]


def test_failing_item_restarts_when_an_item_ahead_fails_too() -> None:
    q = queue(item(1, buildset(1, (), {"unit": "FAILURE"})),
              item(2, buildset(2, (1,), {"unit": "FAILURE"})))
    actions = plan_dependent(q, set(), set())
    assert Report(1, "failure") in actions
    assert StartBuildSet(2, ()) in actions


def test_merged_items_ahead_keep_followers_state_valid() -> None:
    q = queue(item(2, buildset(2, (1,), {"unit": "SUCCESS"})))
    assert plan_dependent(q, merged_items={1}, merged_changes=set()) == \
        [Report(2, "success", merge=True)]


def test_item_ahead_dequeued_without_merging_restarts_followers() -> None:
    q = queue(item(2, buildset(2, (1,), {"unit": "SUCCESS"})))
    assert plan_dependent(q, merged_items=set(), merged_changes=set()) == \
        [StartBuildSet(2, ())]


def test_merge_conflict_is_reported_at_once_even_behind_the_head() -> None:
    q = queue(item(1, buildset(1, (), {"unit": None})),
              item(2, buildset(2, (1,), merge_state=MergeState.CONFLICT)))
    actions = plan_dependent(q, set(), set())
    assert Report(2, "merge-conflict") in actions


def test_change_whose_dependency_failed_is_dequeued() -> None:
    q = queue(item(1, buildset(1, (), {"unit": "FAILURE"})),
              item(2, buildset(2, (1,), {"unit": None}), needs=(1,)))
    actions = plan_dependent(q, set(), set())
    reports = [a for a in actions if isinstance(a, Report)]
    assert Report(1, "failure") in reports
    assert any(r.item_id == 2 and "depends on change 1" in r.message for r in reports)


def test_non_voting_failure_does_not_fail_the_item() -> None:
    bs = buildset(1, (), {"unit": "SUCCESS", "lint": "FAILURE"}, jobs=graph("unit", "lint"),
                  voting={"lint": False})
    assert plan_dependent(queue(item(1, bs)), set(), set()) == [Report(1, "success", merge=True)]


def test_jobs_wait_for_their_dependencies_and_skip_when_they_fail() -> None:
    g = graph("build", "test", deps={"test": ("build",)})
    running = buildset(1, (), {}, jobs=g)
    assert plan_independent([item(1, running)]) == [StartJobs(1, 10, ("build",))]
    failed = buildset(1, (), {"build": "FAILURE"}, jobs=g)
    actions = plan_independent([item(1, failed)])
    assert SkipJobs(1, 10, ("test",)) in actions


def test_independent_items_report_without_merging() -> None:
    done = buildset(1, (), {"unit": "SUCCESS"})
    assert plan_independent([item(1, done), item(2)]) == \
        [Report(1, "success"), StartBuildSet(2, ())]


def test_window_grows_linearly_and_halves_to_the_floor() -> None:
    w = Window()
    assert (w.size, w.floor) == (20, 3)
    assert w.after_success(20) == 21
    assert w.after_failure(20) == 10
    assert w.after_failure(4) == 3


def test_serial_tests_only_the_head_of_each_queue_on_its_own() -> None:
    assert plan_serial(queue(item(1), item(2), item(3))) == [StartBuildSet(1, ())]
    running = queue(item(1, buildset(1, (), {"unit": None})), item(2))
    assert plan_serial(running) == []  # the next waits while the head's build runs
    done = queue(item(1, buildset(1, (), {"unit": "FAILURE"})), item(2))
    assert plan_serial(done) == [Report(1, "failure")]  # reported; nothing behind restarts
    assert plan_serial(queue(item(2, buildset(2, (), {"unit": "SUCCESS"})), item(3))) == \
        [Report(2, "success")]
    conflict = queue(item(4, buildset(4, (), merge_state=MergeState.CONFLICT)), item(5))
    assert plan_serial(conflict) == [Report(4, "merge-conflict", message="")]
    assert plan_serial(queue()) == []


def test_supercedent_runs_the_head_and_only_the_newest_waiting_item_survives() -> None:
    from zuulish.scheduler.actions import Supersede
    from zuulish.scheduler.supercedent import plan_supercedent

    running = queue(item(1, buildset(1, (), {"unit": None})), item(2), item(3), item(4))
    assert plan_supercedent(running) == [Supersede(2, 4), Supersede(3, 4)]
    done = queue(item(1, buildset(1, (), {"unit": "SUCCESS"})), item(4))
    assert plan_supercedent(done) == [Report(1, "success")]
    assert plan_supercedent(queue(item(4))) == [StartBuildSet(4, ())]


def test_with_retry_failed_jobs_a_failed_job_runs_again_and_followers_keep_their_state() -> None:
    from dataclasses import replace

    from zuulish.model import QueueOptions
    from zuulish.scheduler.flakes import with_flaky_retries
    q = queue(item(1, buildset(1, (), {"unit": "FAILURE"})),
              item(2, buildset(2, (1,), {"unit": None})))
    q.options = replace(QueueOptions(), retry_failed_jobs=1)
    actions = plan_dependent(with_flaky_retries(q), set(), set())
    assert actions == [StartJobs(1, 10, ("unit",))]  # no restart of 2
    bs = q.items[0].buildset
    assert bs is not None and bs.builds["unit"].result == "FAILURE"  # q itself is unchanged
    bs.retried = {"unit": 1}  # the retry was spent and failed too
    assert StartBuildSet(2, ()) in plan_dependent(with_flaky_retries(q), set(), set())


def test_a_requiring_job_waits_while_an_item_ahead_has_no_state_yet() -> None:
    from zuulish.scheduler.requirements import check_requirements
    needs = JobGraph()
    needs.add(FrozenJob(name="use", requires=("image",)))
    ahead = item(1, buildset(1, (), merge_state=MergeState.PENDING))
    behind = item(2, buildset(2, (1,), jobs=needs))
    start = [StartJobs(2, 20, ("use",))]
    assert check_requirements(start, {1: ahead, 2: behind}) == []  # it may yet provide
    assert check_requirements(start, {2: behind}) == start  # ahead merged and left


def alternate(item_id: int, ahead: tuple[int, ...],
              results: dict[str, str | None] | None = None) -> BuildSet:
    bs = buildset(item_id, ahead, results)
    bs.id += 1
    return bs


def test_trusted_failing_head_waits_for_the_state_behind_that_holds_it() -> None:
    q = queue(item(1, buildset(1, (), {"unit": "FAILURE"})),
              item(2, buildset(2, (1,), {"unit": None})))
    assert plan_dependent(q, set(), set(), trust_later_passes=True) == []
    # Without the option, 1 is blamed: 2 is re-based and 1 reported.
    assert plan_dependent(q, set(), set()) == [Report(1, "failure"), StartBuildSet(2, ())]


def test_trusted_failing_head_merges_as_the_passing_state_behind_that_holds_it() -> None:
    q = queue(item(1, buildset(1, (), {"unit": "FAILURE"})),
              item(2, buildset(2, (1,), {"unit": "SUCCESS"})))
    assert plan_dependent(q, set(), set(), trust_later_passes=True) == [
        Report(1, "success", merge=True, via=2), Report(2, "success", merge=True, via=2)]


def test_trusted_failing_head_is_blamed_when_the_state_behind_fails_too() -> None:
    q = queue(item(1, buildset(1, (), {"unit": "FAILURE"})),
              item(2, buildset(2, (1,), {"unit": "FAILURE"})))
    assert plan_dependent(q, set(), set(), trust_later_passes=True) == [
        Report(1, "failure"), StartBuildSet(2, ())]


def test_speculation_starts_an_alternate_without_the_nearest_uncertain_item() -> None:
    q = queue(item(1, buildset(1, (), {"unit": "SUCCESS"})),
              item(2, buildset(2, (1,), {"unit": None})),
              item(3, buildset(3, (1, 2), {"unit": None})))
    actions = plan_dependent(q, set(), set(), speculate_failures=True)
    assert StartBuildSet(3, (1,), alternate=True) in actions
    assert not any(isinstance(a, StartBuildSet) and a.item_id == 2 for a in actions)


def test_speculation_runs_the_alternates_jobs_on_spare_nodes() -> None:
    it = item(2, buildset(2, (1,), {"unit": None}))
    it.alternate = alternate(2, ())
    q = queue(item(1, buildset(1, (), {"unit": None})), it)
    assert StartJobs(2, 21, ("unit",), spare=True) in \
        plan_dependent(q, set(), set(), speculate_failures=True)


def test_speculation_uses_the_alternate_when_what_it_left_out_fails() -> None:
    it = item(2, buildset(2, (1,), {"unit": "FAILURE"}))
    it.alternate = alternate(2, (), {"unit": "SUCCESS"})
    q = queue(item(1, buildset(1, (), {"unit": "FAILURE"})), it)
    assert plan_dependent(q, set(), set(), speculate_failures=True) == [
        Report(1, "failure"), UseAlternate(2, 21)]


def test_speculation_drops_the_alternate_when_what_it_left_out_passes() -> None:
    it = item(2, buildset(2, (1,), {"unit": None}))
    it.alternate = alternate(2, (), {"unit": None})
    q = queue(item(1, buildset(1, (), {"unit": "SUCCESS"})), it)
    assert DropAlternate(2, 21) in plan_dependent(q, set(), set(), speculate_failures=True)


def test_trusted_failing_head_is_blamed_when_the_state_behind_is_outside_the_window() -> None:
    q = queue(item(1, buildset(1, (), {"unit": "FAILURE"})),
              item(2, buildset(2, (1,), {})), window=1)
    assert plan_dependent(q, set(), set(), trust_later_passes=True) == [Report(1, "failure")]
