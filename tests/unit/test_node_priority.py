"""Node requests: pipeline precedence first, then the item's place in its queue."""

from __future__ import annotations

from sqlalchemy import select

from tests.fakes.gate_world import GateWorld, SimChange
from zuulish.scheduler.priority import PLACES, node_priority
from zuulish.store import BuildRow, BuildSetRow, QueueItemRow


def test_precedence_outranks_place_and_spare_comes_after_every_place() -> None:
    assert node_priority("high", PLACES + 10) < node_priority("normal", 0)
    assert node_priority("normal", 0) < node_priority("normal", 1) \
        < node_priority("normal", PLACES) == node_priority("normal", PLACES + 5)
    assert node_priority("normal", PLACES) < node_priority("normal", 0, spare=True) \
        < node_priority("low", 0)
    assert node_priority("unknown", 0) == node_priority("normal", 0)


def start_order(world: GateWorld) -> list[int]:
    with world.store.read() as s:
        rows = s.execute(select(QueueItemRow.change_number, BuildRow.started_at)
                         .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                         .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                         .where(BuildRow.started_at.is_not(None))).all()
    return [n for n, _ in sorted(rows, key=lambda r: (r[1], r[0]))]


def test_one_busy_project_does_not_starve_another_in_an_independent_pipeline() -> None:
    world = GateWorld(repos=["a", "b"], nodes=1, manager="independent")
    try:
        for n in (1, 2, 3):
            world.add_change(SimChange(n, "a", (f"src/{n}.py",), False, 0.0))
        world.add_change(SimChange(4, "b", ("src/4.py",), False, 1.0))
        world.run()
        # b's first change is ahead of a's second and third: it is first in its project
        assert start_order(world) == [1, 4, 2, 3]
    finally:
        world.close()


def test_the_head_of_a_shared_queue_gets_nodes_before_the_items_behind_it() -> None:
    world = GateWorld(repos=["a", "b"], nodes=1)
    try:
        for n in (1, 2, 3):
            world.add_change(SimChange(n, "ab"[n % 2], (f"src/{n}.py",), False, 0.0))
        world.run()
        order = start_order(world)
        assert order == [1, 2, 3]
        assert [m.number for m in world.forge.merges] == [1, 2, 3]
    finally:
        world.close()
