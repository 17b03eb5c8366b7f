"""A scheduler pass plans only the queues where something moved."""

from __future__ import annotations

import pytest

import zuulish.scheduler.scheduler as scheduler_module
from tests.fakes.gate_world import GateWorld, SimChange
from zuulish.scheduler.dirty import DirtyQueues


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[set[str] | None]:
    """The queue names each ``load_queues`` call asked for (None: all)."""
    calls: list[set[str] | None] = []
    real = scheduler_module.load_queues

    def spy(session, tenant, pipeline, sources, window, cache=None, names=None):
        calls.append(None if names is None else set(names))
        return real(session, tenant, pipeline, sources, window, cache, names)

    monkeypatch.setattr(scheduler_module, "load_queues", spy)
    return calls


def test_dirty_queues_hand_over_what_was_marked_and_start_from_everything() -> None:
    dirty = DirtyQueues()
    assert dirty.take().of("t", "gate") is None  # a fresh scheduler plans everything
    dirty.mark("t", "gate", "q1")
    dirty.mark_pipeline("t", "check")
    taken = dirty.take()
    assert taken.of("t", "gate") == {"q1"} and taken.of("t", "check") is None
    assert taken.of("u", "gate") == frozenset()
    assert dirty.take().of("t", "gate") == frozenset()  # marks are handed over once
    dirty.mark_tenant("t")
    assert dirty.take().of("t", "anything") is None


def test_an_idle_pass_plans_nothing_and_a_finished_build_plans_only_its_queue(
        planned: list) -> None:
    world = GateWorld(repos=["a", "b"], nodes=10, manager="independent")
    try:
        for n in (1, 2):
            world.add_change(SimChange(n, "ab"[n - 1], (f"src/{n}.py",), False, 0.0))
        world.run_for(60)  # both are building (30-minute builds)
        planned.clear()
        world.scheduler.run_once()
        assert planned == []  # nothing moved: nothing loaded, nothing planned
        world.executor.flaky_rate = 0.0
        world.advance_to(world.executor.next_end())
        while world.executor.step():  # the builds finish
            pass
        planned.clear()
        world.scheduler.run_once()
        assert len(planned) == 1 and planned[0] is not None and len(planned[0]) == 2
        world.run()
        assert sorted(n for n, action, _ in world.forge.reports if action == "success") \
            == [1, 2]
    finally:
        world.close()


def test_a_restarted_scheduler_plans_every_queue_once(planned: list) -> None:
    world = GateWorld(repos=["a"], nodes=10)
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0))
        world.run_for(60)
        world.restart()
        planned.clear()
        world.scheduler.run_once()
        assert planned and planned[0] is None
        planned.clear()
        world.scheduler.run_once()
        assert planned == []
    finally:
        world.close()
