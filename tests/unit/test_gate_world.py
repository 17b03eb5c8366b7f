"""The real scheduler in the simulated world: the gate's behaviour over time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.gate_world import GateWorld, SimChange


@pytest.fixture
def world(request: pytest.FixtureRequest):
    options = getattr(request, "param", {})
    w = GateWorld(repos=["a", "b"], nodes=10, queue_options=options)
    yield w
    w.close()


def push(world: GateWorld, number: int, repo: str, bad: bool = False, at: float = 0.0,
         files: tuple[str, ...] = ()) -> None:
    world.add_change(SimChange(number, repo, files or (f"src/{number}.py",), bad, at))


def builds_of(world: GateWorld, number: int) -> int:
    from sqlalchemy import func, select

    from zuulish.store import BuildRow, BuildSetRow, QueueItemRow
    with world.store.read() as s:
        return s.scalar(select(func.count()).select_from(BuildRow)
                        .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                        .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                        .where(QueueItemRow.change_number == number)) or 0


def test_a_bad_change_restarts_every_item_behind_it_in_a_plain_shared_queue(world) -> None:
    push(world, 1, "a", bad=True)
    push(world, 2, "b", at=1)
    push(world, 3, "a", at=2)
    world.run()
    assert [m.number for m in world.forge.merges] == [2, 3]
    assert builds_of(world, 2) == 2 and builds_of(world, 3) == 2  # both re-based
    assert world.forge.violations == []


@pytest.mark.parametrize("world", [{"independent-subqueues": True}], indirect=True)
def test_with_independent_subqueues_only_the_bad_changes_repo_restarts(world) -> None:
    push(world, 1, "a", bad=True)
    push(world, 2, "b", at=1)
    push(world, 3, "a", at=2)
    world.run()
    assert sorted(m.number for m in world.forge.merges) == [2, 3]
    assert builds_of(world, 2) == 1  # never included 1
    assert builds_of(world, 3) == 2  # tested on top of 1, then without it
    assert world.forge.merges[0].number == 2  # did not wait for the other repo
    assert world.forge.violations == []


@pytest.mark.parametrize("world", [{"independent-subqueues": True}], indirect=True)
def test_a_change_whose_job_sees_another_repo_is_tested_on_that_repos_queue(world) -> None:
    push(world, 1, "a", bad=True)
    push(world, 2, "b", at=1, files=("couple/a/x.py",))  # its job checks out a
    world.run()
    assert [m.number for m in world.forge.merges] == [2]
    assert builds_of(world, 2) == 2  # failed with 1 in its state, passed without
    assert world.forge.merges[0].history == (2,)
    assert world.forge.violations == []


@pytest.mark.parametrize("world", [{"independent-subqueues": True}], indirect=True)
def test_a_change_waits_for_an_item_ahead_whose_job_saw_its_repo(world) -> None:
    push(world, 1, "a", files=("couple/b/x.py",))  # 1's job checks out b
    push(world, 2, "b", at=1)
    durations = iter([1800.0, 60.0])  # 2's build ends long before 1's
    world.executor.duration = lambda: next(durations)
    world.run()
    assert [m.number for m in world.forge.merges] == [1, 2]
    assert world.forge.merges[1].at == world.forge.merges[0].at  # merged right after 1
    assert world.forge.violations == []


@pytest.mark.parametrize("world", [{"independent-subqueues": True}], indirect=True)
def test_a_state_retired_by_a_merge_earlier_in_the_same_pass_is_not_merged(world) -> None:
    # 3 (repo b) needs 1 (repo a), so its state holds 1; 2 is behind 1 on repo a. All
    # three finish at once: 1 merges, then 2 and 3 are the heads of their sub-queues in
    # the same pass. 2's merge moves repo a, which 3's state holds (built before 2
    # merged), and retires that state: 3 must not be merged on it all the same.
    push(world, 1, "a")
    push(world, 2, "a")
    world.add_change(SimChange(3, "b", ("src/3.py",), False, 0.0, needs=(1,)))
    world.run()
    assert sorted(m.number for m in world.forge.merges) == [1, 2, 3]
    assert world.forge.violations == []
    assert builds_of(world, 3) == 2  # its retired state was not merged: it was tested again


def test_supercedent_pipeline_skips_to_the_newest_waiting_change() -> None:
    world = GateWorld(repos=["a"], nodes=5, manager="supercedent")
    try:
        for number, at in ((1, 0), (2, 60), (3, 120)):
            push(world, number, "a", at=at)
        world.run()
        assert [(n, a) for n, a, _ in world.forge.reports] == [(1, "success"), (3, "success")]
        assert builds_of(world, 2) == 0  # superseded while 1 ran
        assert builds_of(world, 3) == 1
        from sqlalchemy import select

        from zuulish.store import QueueItemRow
        with world.store.read() as s:
            row = s.scalars(select(QueueItemRow).where(QueueItemRow.change_number == 2)).one()
        assert (row.state, row.message) == ("dequeued", "superseded by change 3")
    finally:
        world.close()



def builds(world: GateWorld, number: int) -> list[tuple[str, str | None, int]]:
    """(job, result, attempt) of every build run for change ``number``, oldest first."""
    from sqlalchemy import select

    from zuulish.store import BuildRow, BuildSetRow, QueueItemRow
    with world.store.read() as s:
        return [tuple(r) for r in s.execute(
            select(BuildRow.job, BuildRow.result, BuildRow.attempt)
            .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
            .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
            .where(QueueItemRow.change_number == number)
            .order_by(BuildRow.created_at, BuildRow.job))]


def test_a_failed_node_request_ends_in_node_failure_with_the_clouds_reason(world) -> None:
    # the launcher has already tried the provider's launch-attempts: no new request
    world.launcher.fail_next = 1
    push(world, 1, "a")
    world.run()
    assert world.forge.merges == []
    assert builds(world, 1) == [("test-a", "NODE_FAILURE", 1)]
    assert (1, "failure", "FAILURE") in world.forge.reports


GATE = """\
- pipeline:
    name: gate
    manager: dependent
    precedence: high
    trigger:
      sim:
        - event: comment-added
          approval:
            - Workflow: 1
    success:
      sim:
        Verified: 2
        submit: true
    failure:
      sim:
        Verified: -2

- job:
    name: base
    parent: null
    run: sim.yaml
    nodeset:
      nodes:
        - name: node
          label: sim
"""


def world_with(config: str, repos: tuple[str, ...] = ("a",), **options) -> GateWorld:
    return GateWorld(repos=list(repos), nodes=10, config=GATE + config, **options)


def dequeued_at(world: GateWorld, number: int) -> float | None:
    from sqlalchemy import select

    from zuulish.store import QueueItemRow
    with world.store.read() as s:
        return s.scalars(select(QueueItemRow.dequeued_at)
                         .where(QueueItemRow.change_number == number)).one()


FAIL_FAST = """
- job:
    name: quick
- job:
    name: slow

- project:
    name: a
    gate:
      fail-fast: {fail_fast}
      jobs:
        - quick
        - slow
"""


@pytest.mark.parametrize("fail_fast", [True, False])
def test_fail_fast_cancels_the_rest_and_reports_at_the_first_failure(fail_fast: bool) -> None:
    world = world_with(FAIL_FAST.format(fail_fast=str(fail_fast).lower()))
    try:
        world.executor.job_seconds = {"quick": 60.0, "slow": 3600.0}
        world.executor.fail_next = {"quick": 1}
        push(world, 1, "a")
        world.run()
        assert world.forge.merges == [] and (1, "failure", "FAILURE") in world.forge.reports
        if fail_fast:
            assert dequeued_at(world, 1) == 60.0
            assert builds(world, 1) == [("quick", "FAILURE", 1), ("slow", "CANCELED", 1)]
        else:
            assert dequeued_at(world, 1) == 3600.0
            assert builds(world, 1) == [("quick", "FAILURE", 1), ("slow", "SUCCESS", 1)]
    finally:
        world.close()


SEMAPHORE = """
- pipeline:
    name: check
    manager: independent
    trigger:
      sim:
        - event: comment-added
          approval:
            - Workflow: 1
    success:
      sim:
        Verified: 1

- semaphore:
    name: database
    max: {max}

- job:
    name: migrate
    semaphores: [database]
- job:
    name: unit

- project:
    name: a
    check:
      jobs: [migrate, unit]
    gate:
      jobs: [migrate, unit]
"""


def runs_of(world: GateWorld, job: str) -> list[tuple[float, float]]:
    """(started, finished) of each build of ``job``, in start order."""
    from sqlalchemy import select

    from zuulish.store import BuildRow
    with world.store.read() as s:
        return [(r.started_at, r.finished_at) for r in s.scalars(
            select(BuildRow).where(BuildRow.job == job).order_by(BuildRow.started_at))]


def test_a_semaphore_lets_one_build_at_a_time_across_pipelines() -> None:
    world = world_with(SEMAPHORE.format(max=1))
    try:
        world.executor.job_seconds = {"migrate": 100.0, "unit": 100.0}
        push(world, 1, "a")
        world.run()
        assert [m.number for m in world.forge.merges] == [1]
        assert runs_of(world, "unit") == [(0.0, 100.0), (0.0, 100.0)]  # no semaphore
        assert runs_of(world, "migrate") == [(0.0, 100.0), (100.0, 200.0)]
    finally:
        world.close()


def test_a_semaphore_with_room_for_two_does_not_serialise() -> None:
    world = world_with(SEMAPHORE.format(max=2))
    try:
        world.executor.job_seconds = {"migrate": 100.0, "unit": 100.0}
        push(world, 1, "a")
        world.run()
        assert runs_of(world, "migrate") == [(0.0, 100.0), (0.0, 100.0)]
    finally:
        world.close()


def test_semaphore_holders_are_known_again_after_a_scheduler_restart() -> None:
    world = world_with(SEMAPHORE.format(max=1))
    try:
        world.executor.job_seconds = {"migrate": 100.0, "unit": 100.0}
        push(world, 1, "a")
        world.run_for(10)
        world.restart()  # a new scheduler, with nothing in memory
        world.run()
        assert runs_of(world, "migrate") == [(0.0, 100.0), (100.0, 200.0)]
    finally:
        world.close()


@pytest.mark.parametrize("retries", [0, 1])
def test_retry_failed_jobs_reruns_a_flaky_failure_before_resetting_the_queue(retries) -> None:
    options = {"retry-failed-jobs": retries} if retries else {}
    world = GateWorld(repos=["a", "b"], nodes=10, queue_options=options)
    try:
        world.executor.fail_next = {"test-a": 1}  # the first build of test-a flakes
        push(world, 1, "a")
        push(world, 2, "b", at=1)
        world.run()
        if retries:
            assert [m.number for m in world.forge.merges] == [1, 2]
            assert builds(world, 1) == [("test-a", "FAILURE", 1), ("test-a", "SUCCESS", 1)]
            assert builds(world, 2) == [("test-b", "SUCCESS", 1)]  # never restarted
        else:
            assert [m.number for m in world.forge.merges] == [2]
            assert builds(world, 1) == [("test-a", "FAILURE", 1)]
            assert len(builds(world, 2)) == 2  # re-based once 1 failed
        assert world.forge.violations == []
    finally:
        world.close()


def test_a_job_failing_more_often_than_retry_failed_jobs_allows_fails_its_item() -> None:
    world = GateWorld(repos=["a", "b"], nodes=10, queue_options={"retry-failed-jobs": 2})
    try:
        world.executor.fail_next = {"test-a": 3}
        push(world, 1, "a")
        push(world, 2, "b", at=1)
        world.run()
        assert [m.number for m in world.forge.merges] == [2]
        assert [r for _, r, _ in builds(world, 1)] == ["FAILURE"] * 3
        assert (1, "failure", "FAILURE") in world.forge.reports
        assert world.forge.violations == []
    finally:
        world.close()


PROVIDES = """
- job:
    name: build-image
    provides: [image]
    voting: {voting}
- job:
    name: use-image
    requires: [image]
- job:
    name: unit

- project:
    name: a
    queue: integrated
    gate:
      jobs: [build-image]
- project:
    name: b
    queue: integrated
    gate:
      jobs: [use-image, unit]
"""


def params_of(world: GateWorld, number: int, job: str) -> dict:
    from sqlalchemy import select

    from zuulish.store import BuildRow, BuildSetRow, QueueItemRow
    with world.store.read() as s:
        return s.scalars(select(BuildRow.params)
                         .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                         .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                         .where(QueueItemRow.change_number == number, BuildRow.job == job)
                         ).one()


def build_id(world: GateWorld, number: int, job: str) -> str:
    from sqlalchemy import select

    from zuulish.store import BuildRow, BuildSetRow, QueueItemRow
    with world.store.read() as s:
        return s.scalars(select(BuildRow.id)
                         .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                         .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                         .where(QueueItemRow.change_number == number, BuildRow.job == job)
                         ).one()


def test_a_job_that_requires_waits_for_the_provider_of_an_item_ahead() -> None:
    world = world_with(PROVIDES.format(voting="true"), repos=("a", "b"))
    try:
        world.executor.job_seconds = {"build-image": 100.0, "use-image": 50.0, "unit": 50.0}
        push(world, 1, "a")
        push(world, 2, "b")
        world.run()
        assert [m.number for m in world.forge.merges] == [1, 2]
        assert runs_of(world, "unit") == [(0.0, 50.0)]
        assert runs_of(world, "use-image") == [(100.0, 150.0)]  # after build-image
        [provider] = params_of(world, 2, "use-image")["requirements"]
        assert provider == {"item": provider["item"], "change": 1, "patchset": 1,
                            "job": "build-image", "build": build_id(world, 1, "build-image"),
                            "provides": ["image"]}
    finally:
        world.close()


def test_a_job_that_requires_runs_at_once_with_no_provider_ahead() -> None:
    world = world_with(PROVIDES.format(voting="true"), repos=("a", "b"))
    try:
        world.executor.job_seconds = {"use-image": 50.0, "unit": 50.0}
        push(world, 2, "b")
        world.run()
        assert runs_of(world, "use-image") == [(0.0, 50.0)]
        assert params_of(world, 2, "use-image")["requirements"] == []
    finally:
        world.close()


def test_a_failed_provider_ahead_fails_the_job_that_requires_it() -> None:
    world = world_with(PROVIDES.format(voting="false"), repos=("a", "b"))
    try:  # non-voting: change 1 still merges, but it made no image
        world.executor.job_seconds = {"build-image": 100.0, "use-image": 50.0, "unit": 50.0}
        world.executor.fail_next = {"build-image": 1}
        push(world, 1, "a")
        push(world, 2, "b")
        world.run()
        assert [m.number for m in world.forge.merges] == [1]
        assert builds(world, 2) == [("unit", "SUCCESS", 1), ("use-image", "FAILURE", 1)]
        assert runs_of(world, "use-image") == [(None, 100.0)]  # never ran
        assert (2, "failure", "FAILURE") in world.forge.reports
    finally:
        world.close()


NON_VOTING = """
- job:
    name: unit
- job:
    name: experimental
    voting: false
- job:
    name: after-experimental
    voting: false
    dependencies: [experimental]

- project:
    name: a
    gate:
      jobs: [unit, experimental, after-experimental]
"""


def test_a_failing_non_voting_job_neither_blocks_the_merge_nor_restarts_followers() -> None:
    world = world_with(NON_VOTING)
    try:
        world.executor.fail_next = {"experimental": 2}
        push(world, 1, "a")
        push(world, 2, "a", at=1)
        world.run()
        assert [m.number for m in world.forge.merges] == [1, 2]
        assert builds(world, 1) == [("experimental", "FAILURE", 1), ("unit", "SUCCESS", 1),
                                    ("after-experimental", "SKIPPED", 1)]
        assert len(builds(world, 2)) == 3  # its state was never rebuilt
        assert world.forge.violations == []
    finally:
        world.close()


def flake_once(world: GateWorld, number: int) -> None:
    """The first build of a state that holds only change ``number`` fails (a flake)."""
    commit = world.forge.changes[number].commit
    real = world.executor.outcome
    flaked: list[bool] = []

    def outcome(repo_state: dict, job: str = "") -> str:
        commits = {c for st in repo_state.values() for c in st.get("changes", ())}
        if commits == {commit} and not flaked:
            flaked.append(True)
            return "FAILURE"
        return real(repo_state, job)

    world.executor.outcome = outcome  # type: ignore[method-assign]


def test_a_flaky_head_is_rejected_and_its_follower_restarted_by_default(world) -> None:
    push(world, 1, "a")
    push(world, 2, "b", at=1)
    flake_once(world, 1)
    world.run()
    assert [m.number for m in world.forge.merges] == [2]
    assert builds_of(world, 2) == 2
    assert world.forge.violations == []


@pytest.mark.parametrize("world", [{"trust-later-passes": True}], indirect=True)
def test_a_flaky_head_merges_with_its_follower_whose_state_held_it_and_passed(world) -> None:
    push(world, 1, "a")
    push(world, 2, "b", at=1)
    flake_once(world, 1)
    world.run()
    merges = world.forge.merges
    assert [m.number for m in merges] == [1, 2]
    assert merges[0].at == merges[1].at  # together, as 2's tested state
    assert builds_of(world, 2) == 1  # no restart
    assert (1, "success", "SUCCESS") in world.forge.reports
    assert world.forge.violations == []
    [text] = [m for n, m in world.forge.messages if n == 1]
    assert "Tested in the state of change 2,1, which holds this change" in text
    assert "taken for a flaky one" in text


@pytest.mark.parametrize("world", [{"trust-later-passes": True}], indirect=True)
def test_trusting_later_passes_still_rejects_a_bad_change(world) -> None:
    push(world, 1, "a", bad=True)
    push(world, 2, "b", at=1)
    push(world, 3, "a", at=2)
    world.run()
    assert [m.number for m in world.forge.merges] == [2, 3]
    assert (1, "failure", "FAILURE") in world.forge.reports
    assert world.forge.violations == []


def merged_at(world: GateWorld, number: int) -> float:
    return next(m.at for m in world.forge.merges if m.number == number)


def test_a_bad_head_costs_its_follower_a_second_round_by_default(world) -> None:
    push(world, 1, "a", bad=True)
    push(world, 2, "b", at=1)
    world.run()
    assert [m.number for m in world.forge.merges] == [2]
    assert merged_at(world, 2) == pytest.approx(2 * 1800 + 1, abs=2)


@pytest.mark.parametrize("world", [{"speculate-failures": True}], indirect=True)
def test_with_spare_speculation_a_bad_head_costs_its_follower_no_extra_round(world) -> None:
    push(world, 1, "a", bad=True)
    push(world, 2, "b", at=1)
    push(world, 3, "a", at=2)
    world.run()
    assert [m.number for m in world.forge.merges] == [2, 3]
    # 2's alternate (without 1) ran on the idle nodes beside its state with 1: when
    # 1 failed it became 2's state, already passed.
    assert merged_at(world, 2) == pytest.approx(1800 + 1, abs=2)
    assert builds_of(world, 2) == 2
    assert world.forge.merges[0].history == (2,)
    assert world.forge.violations == []


@pytest.mark.parametrize("world", [{"speculate-failures": True}], indirect=True)
def test_with_spare_speculation_an_alternate_is_dropped_when_what_it_left_out_passes(
        world) -> None:
    push(world, 1, "a")
    push(world, 2, "a", at=1)
    world.run()
    assert [m.number for m in world.forge.merges] == [1, 2]
    assert world.forge.merges[1].history == (1, 2)
    assert merged_at(world, 2) == pytest.approx(1800 + 1, abs=2)
    from sqlalchemy import select

    from zuulish.store import BuildSetRow
    with world.store.read() as s:
        rows = s.scalars(select(BuildSetRow).where(BuildSetRow.item_id == 2)).all()
    assert sorted(r.ahead for r in rows) == [[], [1]]  # the alternate left 1 out
    assert not any(r.alternate for r in rows)
    assert [r.ahead for r in rows if r.current] == [[1]]
    assert world.forge.violations == []


def test_spare_speculation_waits_for_idle_nodes() -> None:
    world = GateWorld(repos=["a", "b"], nodes=2, queue_options={"speculate-failures": True})
    try:
        for number in (1, 2, 3):
            push(world, number, "a", at=number)
        world.run_for(60)
        from sqlalchemy import select

        from zuulish.store import BuildRow, BuildSetRow
        with world.store.read() as s:
            running = s.execute(select(BuildSetRow.alternate, BuildSetRow.ahead)
                                .join(BuildRow, BuildRow.buildset_id == BuildSetRow.id)
                                .where(BuildRow.state == "running")).all()
        assert sorted(tuple(a) for _, a in running) == [(), (1,)]  # the primaries of 1, 2
        world.run()
        assert [m.number for m in world.forge.merges] == [1, 2, 3]
        assert world.forge.violations == []
    finally:
        world.close()


def _failure_rate(world: GateWorld) -> float | None:
    from sqlalchemy import select

    from zuulish.store import ChangeQueueRow
    with world.store.read() as s:
        return s.scalar(select(ChangeQueueRow.failure_rate))


def _verify_first_world(batch_size: int) -> GateWorld:
    world = GateWorld(repos=["a", "b"], nodes=1, queue_options={
        "verify-first": True, "batch-size": batch_size})
    push(world, 1, "a")  # takes the only node; the others gather while it runs
    for n in range(2, 6):
        push(world, n, "ab"[n % 2], at=60 + n)
    push(world, 6, "a", bad=True, at=70)
    world.run()
    return world


def test_verify_first_tests_changes_that_arrive_together_as_one_group() -> None:
    grouped, alone = _verify_first_world(4), _verify_first_world(1)
    try:
        for world in (grouped, alone):
            assert [m.number for m in world.forge.merges] == [1, 2, 3, 4, 5]
            assert world.forge.violations == []
        # 3 and 4 were verified by one build of 4's state (which holds 3), and 5 and 6
        # by one of 6's, then 5's alone to tell which of them failed.
        assert builds_of(grouped, 3) == 0 and builds_of(grouped, 6) == 1
        assert builds_of(alone, 3) >= 1
        assert grouped.executor.started < alone.executor.started
        rate = _failure_rate(grouped)
        assert rate is not None and 0 < rate < 0.2  # one change in six failed
    finally:
        grouped.close()
        alone.close()


def test_verify_first_finds_a_bad_change_inside_a_group() -> None:
    world = GateWorld(repos=["a", "b"], nodes=1, queue_options={
        "verify-first": True, "batch-size": 4})
    try:
        push(world, 1, "a")
        push(world, 2, "a", at=60)
        push(world, 3, "b", bad=True, at=61)
        push(world, 4, "a", at=62)
        world.run()
        assert sorted(m.number for m in world.forge.merges) == [1, 2, 4]
        assert [r for r in world.forge.reports if r[0] == 3 and r[1] == "success"] == []
        assert world.forge.violations == []
    finally:
        world.close()


def test_zuul_items_lists_the_changes_ahead_in_the_tested_state(world) -> None:
    from sqlalchemy import select

    from zuulish.executor.job_vars import zuul_var
    from zuulish.model import FrozenJob
    from zuulish.store import BuildRow, BuildSetRow, QueueItemRow

    push(world, 1, "a")
    push(world, 2, "b", at=1)
    world.run_for(60)  # both enqueued, builds running
    with world.store.read() as s:
        row = s.scalars(select(BuildRow).join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                        .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                        .where(QueueItemRow.change_number == 2)).one()
    zuul = zuul_var(row.params, FrozenJob.from_dict(row.frozen_job), row.id, [],
                    Path("/work"), Path("/logs"), "zuulish.test", 1)
    first, own = zuul["items"]
    assert (first["project"]["name"], first["branch"], first["change"], first["patchset"]) \
        == ("a", "main", "1", "1")
    assert first["project"]["src_dir"] == "src/zuulish.test/a"
    assert (own["project"]["name"], own["change"]) == ("b", "2")


@pytest.mark.parametrize("down", [{"get_change", "submit"}, {"submit"}])
def test_a_forge_outage_delays_events_and_merges_and_loses_nothing(world, down) -> None:
    """While the forge answers nothing (or refuses only merges, a rate limit), its events
    and the merges due wait (neither failed nor dropped); after it every change merges."""
    push(world, 1, "a")
    push(world, 2, "b", at=5)  # approved during the outage: its event must wait
    world.run_for(1)
    world.forge.outage_of = down
    world.forge.outage = (world.clock.now(), world.clock.now() + 2400)  # longer than a build
    world.run()
    asked = set(world.forge.unanswered)  # what the forge refused while it was down
    assert asked and asked <= down and (down != {"submit"} or asked == {"submit"})
    assert sorted(m.number for m in world.forge.merges) == [1, 2]
    assert all(m.at >= world.forge.outage[1] for m in world.forge.merges)
    assert [r for r in world.forge.reports if r[1] == "failure"] == []
    assert world.forge.violations == [] and world.queued() == 0
