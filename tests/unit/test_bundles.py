"""Dependency cycles: found, enqueued together, tested on one state, merged or failed as one."""

from __future__ import annotations

from sqlalchemy import select

from tests.fakes.gate_world import GateWorld, SimChange
from zuulish.model import Change, ChangeKey, QueueItem
from zuulish.scheduler.bundles import find_bundles
from zuulish.store import BuildSetRow, QueueItemRow

CYCLES = {"allow-circular-dependencies": True}


def item(n: int, needs: tuple[int, ...] = ()) -> QueueItem:
    change = Change(ChangeKey("c", n), "p", "main", 1, "0" * 40,
                    needs=tuple(ChangeKey("c", x) for x in needs))
    return QueueItem(id=n * 10, pipeline="gate", queue="q", change=change, enqueued_at=0.0)


def test_find_bundles_groups_each_cycle_in_queue_order() -> None:
    items = [item(1), item(2, (3,)), item(3, (4,)), item(4, (2,)), item(5, (1,)),
             item(6, (7,)), item(7, (6,))]
    bundles = find_bundles(items)
    assert bundles[20] == bundles[30] == bundles[40] == (20, 30, 40)
    assert bundles[60] == bundles[70] == (60, 70)
    assert 10 not in bundles and 50 not in bundles  # a plain dependency is no bundle


def test_find_bundles_handles_a_long_chain_without_recursing() -> None:
    items = [item(n, (n - 1,) if n > 1 else (5000,)) for n in range(1, 5001)]
    assert find_bundles(items)[10] == tuple(n * 10 for n in range(1, 5001))


def cycle_world(**options) -> GateWorld:
    return GateWorld(repos=["a", "b"], nodes=10, queue_options={**CYCLES, **options})


def states(world: GateWorld, number: int) -> list[dict]:
    with world.store.read() as s:
        return [bs.repo_state for bs in s.scalars(
            select(BuildSetRow).join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
            .where(QueueItemRow.change_number == number, BuildSetRow.current.is_(True)))]


def test_a_cycle_across_repos_is_tested_on_one_state_and_merges_together() -> None:
    world = cycle_world()
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, needs=(2,)))
        world.add_change(SimChange(2, "b", ("src/2.py",), False, 0.0, needs=(1,)))
        world.run()
        assert sorted(m.number for m in world.forge.merges) == [1, 2]
        assert world.forge.violations == []
        assert world.forge.branch == {"a": [1], "b": [2]}
        assert {r for n, a, r in world.forge.reports if a == "success"} == {"SUCCESS"}
    finally:
        world.close()


def test_every_member_sees_the_whole_cycle_before_it_merges() -> None:
    world = cycle_world()
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, needs=(2,)))
        world.add_change(SimChange(2, "a", ("src/2.py",), False, 0.0, needs=(1,)))
        world.add_change(SimChange(3, "a", ("src/3.py",), False, 0.0))
        world.run_for(60)
        first, second, third = (states(world, n)[0] for n in (1, 2, 3))
        assert first["a"]["commit"] == second["a"]["commit"]  # one state for the bundle
        assert sorted(first["a"]["numbers"]) == [1, 2]
        assert third["a"]["numbers"][-1] == 3 and set(third["a"]["numbers"]) == {1, 2, 3}
        world.run()
        assert [m.number for m in world.forge.merges] == [2, 1, 3] or \
            [m.number for m in world.forge.merges] == [1, 2, 3]
        assert world.forge.violations == []
    finally:
        world.close()


def test_a_bad_member_fails_the_whole_cycle_and_the_change_behind_still_merges() -> None:
    world = cycle_world()
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, needs=(2,)))
        world.add_change(SimChange(2, "b", ("src/2.py",), True, 0.0, needs=(1,)))
        world.add_change(SimChange(3, "a", ("src/3.py",), False, 1.0))
        world.run()
        assert [m.number for m in world.forge.merges] == [3]
        failed = {n for n, action, _ in world.forge.reports if action == "failure"}
        assert failed == {1, 2}
        assert world.forge.violations == []
        assert world.queued() == 0
    finally:
        world.close()


def test_a_bundle_larger_than_the_window_enters_it_whole() -> None:
    world = GateWorld(repos=["a", "b"], nodes=10, queue_options=CYCLES,
                      window={"window": 1, "window-floor": 1})
    try:
        for n in range(1, 4):
            world.add_change(SimChange(n, "ab"[n % 2], (f"src/{n}.py",), False, 0.0,
                                       needs=(n % 3 + 1,)))
        world.run()
        assert sorted(m.number for m in world.forge.merges) == [1, 2, 3]
        assert world.forge.violations == []
    finally:
        world.close()


def test_without_the_queue_option_a_cycle_is_rejected_with_the_way_out() -> None:
    world = GateWorld(repos=["a", "b"], nodes=10)
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, needs=(2,)))
        world.add_change(SimChange(2, "b", ("src/2.py",), False, 0.0, needs=(1,)))
        world.run()
        assert world.forge.merges == []
        with world.store.read() as s:
            from zuulish.store import EventRow
            outcomes = [e.outcome for e in s.scalars(select(EventRow))]
        assert any("form a cycle" in (o or "") and "allow-circular-dependencies" in o
                   for o in outcomes), outcomes
    finally:
        world.close()


def test_a_cycle_split_in_the_queue_is_reported_so_the_changes_between_go_on() -> None:
    world = cycle_world()
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, needs=(2,)))
        world.add_change(SimChange(2, "a", ("src/2.py",), False, 0.0, needs=(1,)))
        world.add_change(SimChange(3, "a", ("src/3.py",), False, 0.0))
        world.run_for(60)
        # a new patch set of 1 and its approval are taken in together: 1 comes back
        # at the end of the queue, behind 3, while 2 still waits near the head
        world.forge.new_patchset(1, bad=False)
        world.forge.changes[1].approved = True
        world.event("comment-added", 1, approvals={"Workflow": 1})
        world.event("patchset-created", 1)
        world.run()
        assert 3 in [m.number for m in world.forge.merges]
        assert world.queued() == 0 and world.forge.violations == []
        failed = {n for n, action, _ in world.forge.reports if action == "failure"}
        assert {1, 2} <= failed
    finally:
        world.close()
