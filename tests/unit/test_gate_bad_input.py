"""Bad input to the gate: each gets a clear answer, and the queues carry on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from tests.fakes.gate_world import CONNECTION, GateWorld, SimChange
from zuulish.model import ChangeStatus
from zuulish.store import BuildRow, BuildSetRow, EventRow, QueueItemRow


@pytest.fixture
def world() -> Iterator[GateWorld]:
    w = GateWorld(repos=["a", "b"], nodes=4)
    yield w
    w.close()


def outcomes(world: GateWorld) -> list[str]:
    with world.store.read() as s:
        return [e.outcome or "" for e in s.scalars(select(EventRow).order_by(EventRow.id))]


def raw_event(world: GateWorld, project: str, number: int) -> None:
    with world.store.session() as s:
        s.add(EventRow(connection=CONNECTION, type="comment-added", project=project,
                       branch="main", change_number=number, patchset=1,
                       data={"approvals": {"Workflow": 1}}, created_at=world.clock.now()))


def good_change_still_merges(world: GateWorld, number: int) -> None:
    world.add_change(SimChange(number, "a", (f"src/{number}.py",), False,
                               world.clock.now()))
    world.run()
    assert number in [m.number for m in world.forge.merges]
    assert world.forge.violations == [] and world.queued() == 0


def test_an_event_for_an_unknown_project_or_change_is_answered_and_ignored(world) -> None:
    raw_event(world, "nowhere/at-all", 1)
    raw_event(world, "a", 99)
    world.settle()
    unknown_project, unknown_change = outcomes(world)[:2]
    assert "no tenant includes project 'nowhere/at-all'" in unknown_project
    assert "change 99 does not exist" in unknown_change
    good_change_still_merges(world, 7)


@pytest.mark.parametrize("setup, expected", [
    ("missing", "needed change sim:99 does not exist"),
    ("abandoned", "needed change 2 is abandoned"),
    ("other-tenant", "needed change 2 is in project 'elsewhere', which this tenant does "
                     "not include"),
])
def test_a_depends_on_that_cannot_be_met_rejects_the_change_with_the_reason(
        world, setup: str, expected: str) -> None:
    if setup == "missing":
        needs = (99,)
    else:
        project = "elsewhere" if setup == "other-tenant" else "b"
        world.forge.add(SimChange(2, project, ("src/2.py",), False, 0.0, approved=True))
        if setup == "abandoned":
            world.forge.changes[2].status = ChangeStatus.ABANDONED
        needs = (2,)
    world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, needs=needs))
    world.run()
    assert any(expected in o for o in outcomes(world)), outcomes(world)
    assert (1, "rejected", None) in world.forge.reports
    assert world.forge.merges == []
    good_change_still_merges(world, 7)


def test_an_enqueue_of_a_change_already_in_the_gate_does_not_enqueue_it_twice(world) -> None:
    world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0))
    world.run_for(60)
    world.approve(1)
    world.run_for(60)
    assert any("already in gate" in o for o in outcomes(world)), outcomes(world)
    world.run()
    assert [m.number for m in world.forge.merges] == [1]


def test_a_result_for_a_build_that_no_longer_counts_changes_nothing(world) -> None:
    world.add_change(SimChange(1, "a", ("src/1.py",), True, 0.0))
    world.add_change(SimChange(2, "a", ("src/2.py",), False, 0.0))
    world.run_for(31 * 60)  # 1 failed; 2 was re-based, its first state retired
    with world.store.session() as s:
        retired = s.scalars(select(BuildRow.id)
                            .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                            .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                            .where(QueueItemRow.change_number == 2,
                                   BuildSetRow.current.is_(False))).all()
        assert retired
        # an executor that lost track reports a failure for the old build anyway
        s.execute(update(BuildRow).where(BuildRow.id.in_(retired))
                  .values(state="completed", result="FAILURE"))
    world.run()
    assert [m.number for m in world.forge.merges] == [2]
    assert world.forge.violations == [] and world.queued() == 0
