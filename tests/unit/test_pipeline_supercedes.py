"""Zuul's ``supercedes``: a change entering the gate leaves check (the real
scheduler over a store, in the simulated world)."""

from __future__ import annotations

from sqlalchemy import select

from tests.fakes.gate_world import GateWorld, SimChange
from zuulish.store import QueueItemRow

CONFIG = """\
- pipeline:
    name: check
    manager: independent
    trigger:
      sim:
        - event: patchset-created
- pipeline:
    name: gate
    manager: dependent
    {supercedes}
    trigger:
      sim:
        - event: comment-added
          approval:
            - Workflow: 1
    success:
      sim:
        submit: true
- job:
    name: base
    parent: null
    run: sim.yaml
    nodeset:
      nodes:
        - name: node
          label: sim
- job:
    name: test-a
- project:
    name: a
    check:
      jobs: [test-a]
    gate:
      jobs: [test-a]
"""


def items(world: GateWorld) -> list[tuple[str, str, str | None]]:
    with world.store.read() as s:
        rows = s.execute(select(QueueItemRow.pipeline, QueueItemRow.state,
                                QueueItemRow.message).order_by(QueueItemRow.id)).all()
    return [tuple(r) for r in rows]


def run(supercedes: str) -> list[tuple[str, str, str | None]]:
    world = GateWorld(repos=["a"], nodes=10, config=CONFIG.format(supercedes=supercedes))
    try:
        world.forge.add(SimChange(1, "a", ("src/1.py",), False, 0.0))
        world.event("patchset-created", 1)
        world.settle()
        assert items(world) == [("check", "queued", None)]
        world.approve(1)
        world.settle()
        return items(world)
    finally:
        world.close()


def test_entering_a_pipeline_that_supercedes_another_leaves_it() -> None:
    assert run("supercedes: [check]") == [
        ("check", "dequeued", "superseded by gate (supercedes)"), ("gate", "queued", None)]


def test_without_supercedes_the_change_stays_in_both() -> None:
    assert run("") == [("check", "queued", None), ("gate", "queued", None)]
