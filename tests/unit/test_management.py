"""enqueue, dequeue and promote: recorded as events, carried out by the real scheduler."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fakes.gate_world import GateWorld, SimChange
from zuulish.scheduler import management
from zuulish.scheduler.management import ManagementError, parse_change, request_data
from zuulish.store import EventRow, QueueItemRow


@pytest.fixture
def world():
    w = GateWorld(repos=["r1"], nodes=5)
    yield w
    w.close()


def ask(world: GateWorld, kind: str, **fields) -> str:
    """Record a request, let the scheduler act, and return its outcome."""
    data = request_data(kind, fields.pop("tenant", "sim"), fields.pop("pipeline", "gate"),
                        **fields)
    event_id = management.record(world.store, kind, data, clock=world.clock.now,
                                 account="admin")
    world.settle()
    with world.store.read() as s:
        return s.get(EventRow, event_id).outcome


def push(world: GateWorld, number: int, approve: bool = False) -> None:
    world.forge.add(SimChange(number, "r1", (f"src/{number}.py",), False, 0.0))
    if approve:
        world.approve(number)


def queued(world: GateWorld) -> list[int]:
    with world.store.read() as s:
        return list(s.scalars(select(QueueItemRow.change_number)
                              .where(QueueItemRow.state == "queued")
                              .order_by(QueueItemRow.sequence)))


def test_enqueue_puts_a_change_in_the_pipeline_without_its_trigger(world) -> None:
    push(world, 1)
    assert ask(world, "enqueue", project="r1", change="1,1") == \
        "sim/gate: enqueued 1 (by admin)"
    world.run()
    assert [m.number for m in world.forge.merges] == [1]


def test_enqueue_errors_name_what_is_wrong_and_change_nothing(world) -> None:
    push(world, 1, approve=True)
    world.settle()
    assert ask(world, "enqueue", project="r1", change="9") == \
        "error: project r1 has no change 9"
    assert ask(world, "enqueue", project="r1", change="1,3") == (
        "error: change 1 is at patch set 1, not 3; only the current one can be enqueued")
    assert "already in gate" in ask(world, "enqueue", project="r1", change="1")
    assert ask(world, "enqueue", project="nope", change="1") == \
        "error: tenant sim has no project 'nope'"
    assert ask(world, "enqueue", pipeline="gat", project="r1", change="1") == \
        "error: tenant sim has no pipeline 'gat' (it has: gate)"
    assert ask(world, "enqueue", tenant="other", project="r1", change="1") == \
        "error: no tenant named 'other'"
    assert queued(world) == [1]


def test_dequeue_removes_the_item_and_stops_its_builds(world) -> None:
    push(world, 1, approve=True)
    world.settle()
    assert world.executor.running
    assert ask(world, "dequeue", project="r1", change="1") == \
        "sim/gate: dequeued change 1 (by admin)"
    assert queued(world) == [] and not world.executor.running
    assert ask(world, "dequeue", project="r1", change="1") == \
        "error: change 1 is not in sim/gate"
    world.run()
    assert world.forge.merges == []


def test_promote_moves_changes_to_the_head_in_the_order_given(world) -> None:
    for n in (1, 2, 3):
        push(world, n, approve=True)
    world.settle()
    assert ask(world, "promote", changes=["3", "2,1"]) == \
        "sim/gate: promoted 3, 2,1 to the head"
    assert queued(world) == [3, 2, 1]
    world.run()
    assert [m.number for m in world.forge.merges] == [3, 2, 1]
    assert world.forge.violations == []


def test_promote_of_a_change_not_in_the_queue_moves_nothing(world) -> None:
    for n in (1, 2):
        push(world, n, approve=True)
    world.settle()
    assert ask(world, "promote", changes=["2", "7"]) == \
        "error: not in sim/gate: 7; nothing was moved"
    assert queued(world) == [1, 2]


def test_malformed_requests_are_refused_before_they_are_recorded() -> None:
    with pytest.raises(ManagementError, match="NUMBER or NUMBER,PATCHSET"):
        parse_change("12a")
    with pytest.raises(ManagementError, match="needs a project"):
        request_data("enqueue", "t", "gate", change="1")
    with pytest.raises(ManagementError, match="more than once"):
        request_data("promote", "t", "gate", changes=["1", "1,2"])
    with pytest.raises(ManagementError, match="unknown command"):
        request_data("merge", "t", "gate")
    assert parse_change(" 12,3 ") == management.ChangeRef(12, 3)
