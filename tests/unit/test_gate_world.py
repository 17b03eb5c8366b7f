"""The real scheduler in the simulated world: the gate's behaviour over time."""

from __future__ import annotations

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



def flake_once(world: GateWorld, number: int) -> None:
    """The first build of a state that holds only change ``number`` fails (a flake)."""
    commit = world.forge.changes[number].commit
    real = world.executor.outcome
    flaked: list[bool] = []

    def outcome(repo_state: dict) -> str:
        commits = {c for st in repo_state.values() for c in st.get("changes", ())}
        if commits == {commit} and not flaked:
            flaked.append(True)
            return "FAILURE"
        return real(repo_state)

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
