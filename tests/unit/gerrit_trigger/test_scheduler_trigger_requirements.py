"""The real scheduler lets a Gerrit trigger entry's ``require``/``reject`` decide on
the change an event is about, and says why it did not enqueue it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.fakes.gate_world import CONNECTION, TENANT, GateWorld, SimChange, gate_config
from zuulish.drivers.registry import trigger_parsers
from zuulish.scheduler.layouts import TenantLayouts
from zuulish.scheduler.scheduler import Scheduler
from zuulish.store import EventRow, QueueItemRow

GATE_TRIGGER = "          approval:\n            - Workflow: 1\n"


@pytest.fixture
def world() -> Iterator[GateWorld]:
    w = GateWorld(repos=["app"])
    yield w
    w.close()


def as_gerrit(world: GateWorld, trigger_extra: str) -> None:
    """The world's connection read as a Gerrit one, its gate trigger with
    ``trigger_extra`` added to the comment-added entry."""
    config = gate_config(["app"], {}, {})
    assert GATE_TRIGGER in config
    world.forge.config = config.replace(GATE_TRIGGER, GATE_TRIGGER + trigger_extra)
    layouts = TenantLayouts(world.tenant_file, {CONNECTION: "gerrit"},
                            {CONNECTION: world.forge}, trigger_parsers())
    layouts.load_all()
    assert layouts.layouts[TENANT].errors == []
    world.scheduler = Scheduler(world.store, world.clock, layouts, {CONNECTION: world.forge},
                                {CONNECTION: world.forge}, "http://sim")


def approve_and_settle(world: GateWorld) -> tuple[str, int]:
    world.forge.add(SimChange(1, "app", ("a.py",), bad=False, arrival=0.0))
    world.approve(1)
    world.scheduler.run_once()
    with world.store.read() as s:
        outcome = s.scalars(select(EventRow.outcome)).one()
        queued = len(s.scalars(select(QueueItemRow)).all())
    return outcome or "", queued


def test_a_trigger_that_requires_what_the_change_lacks_does_not_enqueue(world) -> None:
    as_gerrit(world, "          require:\n            wip: true\n")
    outcome, queued = approve_and_settle(world)
    assert queued == 0
    assert "not enqueued: the trigger asks for wip: true" in outcome


def test_a_trigger_whose_reject_the_change_escapes_enqueues(world) -> None:
    as_gerrit(world, "          reject:\n            wip: true\n")
    outcome, queued = approve_and_settle(world)
    assert queued == 1, outcome
