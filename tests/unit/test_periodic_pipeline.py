"""A periodic pipeline: each tick enqueues the tip of every branch that runs it, once,
even across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.trigger_world import MIDNIGHT, TriggerWorld
from zuulish.drivers.timer.timer import Timer

pytestmark = pytest.mark.store

HOUR, DAY = 3600.0, 86400.0
SIX = MIDNIGHT + 6 * HOUR  # the nightly tick, 06:00 UTC

CONFIG = """
- pipeline:
    name: periodic
    manager: independent
    post-review: true
    precedence: low
    trigger:
      timer:
        - time: '0 6 * * *'
- job:
    name: nightly
    nodeset: {nodes: []}
    run: playbooks/nightly.yaml
- job:
    name: unit
    nodeset: {nodes: []}
    run: playbooks/unit.yaml
"""

PERIODIC = "- project:\n    periodic:\n      jobs: [nightly]\n"
CHECK_ONLY = "- project:\n    check:\n      jobs: [unit]\n"


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[TriggerWorld]:
    w = TriggerWorld(tmp_path, database_url, CONFIG, {
        "org/app": {".zuul.yaml": PERIODIC},
        "org/lib": {".zuul.yaml": PERIODIC},
        "org/quiet": {".zuul.yaml": CHECK_ONLY},
    })
    w.push_branch("org/app", {"stable.txt": "1\n"}, branch="stable/1")
    w.push_branch("org/lib", {".zuul.yaml": CHECK_ONLY}, branch="stable/1")  # not periodic
    w.settle()  # the timer starts from now: 00:00
    yield w
    w.close()


def runs(world: TriggerWorld) -> list[tuple[str, str, str]]:
    return sorted((b["project"], b["branch"], b["newrev"]) for b in world.builds("periodic"))


def tips(world: TriggerWorld, *branches: tuple[str, str]) -> list[tuple[str, str, str]]:
    return sorted((p, b, world.forge.branch_tip(p, b)) for p, b in branches)


def test_each_tick_runs_every_branch_that_has_the_pipeline_at_its_tip(world) -> None:
    world.advance_to(SIX - 1)
    assert runs(world) == []
    world.advance_to(SIX)
    assert runs(world) == tips(world, ("org/app", "main"), ("org/app", "stable/1"),
                               ("org/lib", "main"))
    [build] = [b for b in world.builds("periodic") if b["branch"] == "stable/1"]
    assert (build["ref"], build["oldrev"], build["job"]) == ("refs/heads/stable/1", None,
                                                             "nightly")
    world.advance_to(SIX + 23 * HOUR)
    assert len(runs(world)) == 3  # no tick in between
    newer = world.push_branch("org/app", {"x.txt": "x\n"})
    world.advance_to(SIX + DAY)
    assert len(runs(world)) == 6
    assert ("org/app", "main", newer) in runs(world)  # the tip of that day


def test_a_restart_neither_loses_the_schedule_nor_fires_a_tick_twice(world) -> None:
    world.advance_to(SIX)
    assert len(runs(world)) == 3
    world.restart()
    world.settle()
    assert len(runs(world)) == 3  # the 06:00 tick already fired
    world.advance_to(SIX + DAY)
    assert len(runs(world)) == 6  # the schedule survived the restart


def test_ticks_missed_while_down_fire_once_at_start_up(world) -> None:
    world.advance_to(SIX)
    world.clock.advance(3 * DAY + HOUR)  # down over three nightly ticks
    world.restart()
    world.settle()
    assert len(runs(world)) == 6  # one run for the three missed ticks
    fired = {e.data["tick"] for e in world.events("timer")}
    assert fired == {SIX, SIX + 3 * DAY}  # the newest missed tick
    world.advance_to(SIX + 4 * DAY - 1)
    assert len(runs(world)) == 6


def test_a_new_schedule_starts_at_its_next_tick_not_a_past_one(tmp_path, database_url) -> None:
    w = TriggerWorld(tmp_path, database_url, CONFIG, {"org/app": {".zuul.yaml": PERIODIC}},
                     start=SIX + HOUR)
    try:
        w.settle()
        assert runs(w) == []  # 06:00 today passed before the schedule existed
        w.advance_to(SIX + DAY)
        assert runs(w) == tips(w, ("org/app", "main"))
    finally:
        w.close()


def test_two_timers_on_one_store_fire_a_tick_once(world) -> None:
    other = Timer(world.store, world.clock, world.aio.layouts, world.aio.connections.sources)
    other.run_once()
    world.clock.advance(SIX - world.clock.now())
    assert other.run_once() is True
    assert world.aio.timer.run_once() is False
    world.settle()
    assert len(runs(world)) == 3 and len(world.events("timer")) == 3


def test_a_tick_for_a_branch_deleted_before_it_ran_is_ignored_with_a_reason(world) -> None:
    world.clock.advance(SIX - world.clock.now())
    world.aio.timer.run_once()
    world.delete_branch("org/app", "stable/1")
    world.settle()
    assert runs(world) == tips(world, ("org/app", "main"), ("org/lib", "main"))
    [gone] = [e for e in world.events("timer") if e.branch == "stable/1"]
    assert gone.outcome == "ignored: org/app has no branch 'stable/1' any more"
