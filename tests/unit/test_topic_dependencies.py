"""Zuul's ``dependencies-by-topic``: the open changes of a topic are one dependency
cycle where the queue sets it; planned, bundled, tested and merged together."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fakes.gate_world import GateWorld, SimChange
from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.drivers.interfaces import TopicSource
from zuulish.model import Change, ChangeKey, ChangeStatus, EventFilter, QueueItem
from zuulish.scheduler.bundles import find_bundles
from zuulish.scheduler.enqueue import plan_enqueue
from zuulish.scheduler.job_planning import lost_dependency
from zuulish.scheduler.topics import topic_members, with_topic_needs
from zuulish.store import BuildSetRow, QueueItemRow

PIPELINES = """
- pipeline:
    name: gate
    manager: dependent
    require:
      forge:
        approval:
          - Workflow: 1
    trigger: {forge: [{event: comment-added}]}
- job:
    name: unit
"""
BY_TOPIC = """
- queue:
    name: shared
    allow-circular-dependencies: true
    dependencies-by-topic: true
"""
CYCLES_ONLY = "- queue:\n    name: shared\n    allow-circular-dependencies: true\n"


def _project(queue: str) -> str:
    return f"- project:\n    queue: {queue}\n    gate:\n      jobs: [unit]\n"


def _layout(queue: str = BY_TOPIC, other_queue: str = "shared") -> Layout:
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/app", False),
                                TenantProject("forge", "org/lib", False)])
    loader = ConfigLoader(tenant, {"forge": "git"},
                          {"git": lambda conn, entries: tuple(
                              EventFilter(conn, (e["event"],)) for e in entries)})
    layout = loader.build({"config": ("main", {"zuul.yaml": PIPELINES + queue}),
                           "org/app": ("main", {".zuul.yaml": _project("shared")}),
                           "org/lib": ("main", {".zuul.yaml": _project(other_queue)})})
    assert layout.errors == [], layout.errors
    return layout


class _TopicSource:
    """A source with topics (as Gerrit's): it counts the topic look-ups."""

    def __init__(self, *changes: Change):
        self.changes = {c.key.number: c for c in changes}
        self.asked: list[str] = []

    def get_change(self, number: int) -> Change | None:
        return self.changes.get(number)

    def topic_changes(self, topic: str) -> list[Change]:
        self.asked.append(topic)
        return [c for c in self.changes.values() if c.topic == topic and c.is_open]


class _PlainSource:
    """A source without topics (the built-in forge, GitHub)."""

    def __init__(self, *changes: Change):
        self.changes = {c.key.number: c for c in changes}

    def get_change(self, number: int) -> Change | None:
        return self.changes.get(number)


def _change(number: int, project: str, topic: str = "", *, approved: bool = True,
            needs: tuple[int, ...] = (), status: ChangeStatus = ChangeStatus.NEW) -> Change:
    return Change(ChangeKey("forge", number), project, "main", 1, f"{number:040x}",
                  files=("x.txt",), topic=topic, status=status,
                  approvals={"Workflow": 1} if approved else {},
                  needs=tuple(ChangeKey("forge", n) for n in needs))


def _plan(layout: Layout, change: Change, source, queued: set[ChangeKey] | None = None,
          queue_of: dict[ChangeKey, str] | None = None):
    return plan_enqueue(change, layout.pipelines["gate"], layout, {"forge": source},
                        queued or set(), queue_of or {})


# ------------------------------------------------------------ the topic's members
def test_the_topic_members_are_the_other_open_changes_of_the_same_topic() -> None:
    app, lib = _change(1, "org/app", "x"), _change(2, "org/lib", "x")
    other, gone = _change(3, "org/lib", "y"), _change(4, "org/lib", "x",
                                                      status=ChangeStatus.ABANDONED)
    source = _TopicSource(app, lib, other, gone)
    assert isinstance(source, TopicSource) and not isinstance(_PlainSource(), TopicSource)
    assert topic_members(app, {"forge": source}) == [lib]
    needing = with_topic_needs(app, {"forge": source})
    assert needing.needs == (lib.key,) and needing.topic_needs == (lib.key,)
    assert app.needs == () and app.topic_needs == ()  # the source's copy is left alone
    # no topic, or a source without topics: nothing is asked, nothing added
    plain = _change(5, "org/app")
    assert with_topic_needs(plain, {"forge": source}) is plain
    assert source.asked == ["x", "x"]
    assert with_topic_needs(app, {"forge": _PlainSource(app, lib)}) is app


def test_a_member_already_needed_by_depends_on_is_not_a_topic_need() -> None:
    lib = _change(2, "org/lib", "x")
    app = _change(1, "org/app", "x", needs=(2,))
    needing = with_topic_needs(app, {"forge": _TopicSource(app, lib)})
    assert needing is app and needing.needs == (lib.key,)


# ------------------------------------------------------------ planning an enqueue
def test_enqueueing_a_change_of_a_topic_plans_its_other_changes_next_to_it() -> None:
    app, lib = _change(1, "org/app", "x"), _change(2, "org/lib", "x")
    unrelated = _change(3, "org/lib", "y")
    plan = _plan(_layout(), app, _TopicSource(app, lib, unrelated))
    assert plan.rejection is None, plan.rejection
    assert [c.key.number for c in plan.changes] == [2, 1]
    assert plan.changes[1] is app  # the change as the source gave it


def test_a_topic_member_that_does_not_meet_the_requirements_rejects_the_enqueue() -> None:
    app = _change(1, "org/app", "x")
    lib = _change(2, "org/lib", "x", approved=False)
    plan = _plan(_layout(), app, _TopicSource(app, lib))
    assert plan.changes == []
    assert plan.rejection == ("change 2 (of topic 'x') does not meet the requirements of "
                              "gate (Workflow: 1)")
    assert not plan.silent  # the user is told why


def test_a_topic_member_of_another_queue_rejects_the_enqueue() -> None:
    app, lib = _change(1, "org/app", "x"), _change(2, "org/lib", "x")
    plan = _plan(_layout(other_queue="elsewhere"), app, _TopicSource(app, lib))
    assert plan.rejection is not None
    assert plan.rejection.startswith("change 2 (of topic 'x') (org/lib) does not share a queue")


def test_a_topic_member_already_queued_is_not_planned_again() -> None:
    app, lib = _change(1, "org/app", "x"), _change(2, "org/lib", "x")
    plan = _plan(_layout(), app, _TopicSource(app, lib), {lib.key}, {lib.key: "shared"})
    assert plan.rejection is None and plan.changes == [app]


def test_without_dependencies_by_topic_a_topic_means_nothing() -> None:
    app, lib = _change(1, "org/app", "x"), _change(2, "org/lib", "x", approved=False)
    source = _TopicSource(app, lib)
    plan = _plan(_layout(CYCLES_ONLY), app, source)
    assert plan.rejection is None and plan.changes == [app]
    assert source.asked == []


def test_three_changes_of_a_topic_and_a_depends_on_are_planned_together() -> None:
    base = _change(4, "org/lib")  # no topic, needed by a member
    members = [_change(1, "org/app", "x"), _change(2, "org/lib", "x", needs=(4,)),
               _change(3, "org/app", "x")]
    plan = _plan(_layout(), members[0], _TopicSource(*members, base))
    assert plan.rejection is None, plan.rejection
    numbers = [c.key.number for c in plan.changes]
    assert sorted(numbers) == [1, 2, 3, 4] and numbers.index(4) < numbers.index(2)


# ------------------------------------------------------------ bundles in the queue
def _item(change: Change) -> QueueItem:
    return QueueItem(id=change.key.number * 10, pipeline="gate", queue="shared",
                     change=change, enqueued_at=0.0)


def test_topic_members_in_the_queue_are_one_bundle() -> None:
    app, lib = _change(1, "org/app", "x"), _change(2, "org/lib", "x")
    behind = _change(3, "org/app", "y")
    source = {"forge": _TopicSource(app, lib, behind)}
    items = [_item(with_topic_needs(c, source)) for c in (app, lib, behind)]
    assert find_bundles(items) == {10: (10, 20), 20: (10, 20)}
    assert find_bundles([_item(c) for c in (app, lib, behind)]) == {}  # topics alone: none


def test_a_topic_member_not_in_the_queue_fails_the_queued_one_with_the_reason() -> None:
    app, lib = _change(1, "org/app", "x"), _change(2, "org/lib", "x")
    item = _item(with_topic_needs(app, {"forge": _TopicSource(app, lib)}))
    report = lost_dependency(item, set(), set())
    assert report is not None and report.action == "failure"
    assert "Change 2 of its topic 'x' is not in the queue with it" in report.message
    assert lost_dependency(item, {lib.key}, set()) is None


# ------------------------------------------------------------ through the scheduler
BY_TOPIC_OPTIONS = {"allow-circular-dependencies": True, "dependencies-by-topic": True}


def test_a_topic_is_tested_on_one_state_and_merges_together() -> None:
    world = GateWorld(repos=["a", "b"], nodes=10, queue_options=BY_TOPIC_OPTIONS)
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, topic="t"))
        world.add_change(SimChange(2, "b", ("src/2.py",), False, 0.0, topic="t"))
        world.add_change(SimChange(3, "a", ("src/3.py",), False, 1.0))
        world.run()
        assert sorted(m.number for m in world.forge.merges) == [1, 2, 3]
        first, second = (m for m in world.forge.merges if m.number in (1, 2))
        assert {first.number, second.number} == {1, 2}
        assert world.forge.violations == []
        assert {r for n, a, r in world.forge.reports if a == "success"} == {"SUCCESS"}
    finally:
        world.close()


def test_a_failing_member_fails_its_whole_topic() -> None:
    world = GateWorld(repos=["a", "b"], nodes=10, queue_options=BY_TOPIC_OPTIONS)
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, topic="t"))
        world.add_change(SimChange(2, "b", ("src/2.py",), True, 0.0, topic="t"))
        world.add_change(SimChange(3, "a", ("src/3.py",), False, 1.0))
        world.run()
        assert [m.number for m in world.forge.merges] == [3]
        assert {n for n, action, _ in world.forge.reports if action == "failure"} == {1, 2}
        assert world.queued() == 0 and world.forge.violations == []
    finally:
        world.close()


def test_without_the_option_the_changes_of_a_topic_go_alone() -> None:
    world = GateWorld(repos=["a", "b"], nodes=10,
                      queue_options={"allow-circular-dependencies": True})
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, topic="t"))
        world.add_change(SimChange(2, "b", ("src/2.py",), True, 0.0, topic="t"))
        world.run()
        assert [m.number for m in world.forge.merges] == [1]
    finally:
        world.close()


def test_a_change_that_joins_the_topic_of_a_queued_one_fails_it() -> None:
    """The queued change can no longer merge alone (its topic would merge together):
    it is reported at the next planning, naming the change and the topic; a topic
    change is an event that has every queue of the tenant planned again."""
    world = GateWorld(repos=["a", "b"], nodes=10, queue_options=BY_TOPIC_OPTIONS)
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, topic="t"))
        world.forge.add(SimChange(2, "b", ("src/2.py",), False, 0.0))  # never approved
        world.run_for(60)
        assert world.queued() == 1
        world.forge.changes[2].topic = "t"
        world.event("topic-changed", 2, old_topic=None)
        world.settle()  # at once, not when 1's builds end
        assert any(n == 1 and "Change 2 of its topic 't' is not in the queue" in m
                   for n, m in world.forge.messages)
        assert world.queued() == 0
        world.run()
        assert world.forge.merges == []
    finally:
        world.close()


def test_a_new_patch_set_of_a_member_fails_the_rest_of_its_topic() -> None:
    world = GateWorld(repos=["a", "b"], nodes=10, queue_options=BY_TOPIC_OPTIONS)
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, topic="t"))
        world.add_change(SimChange(2, "b", ("src/2.py",), False, 0.0, topic="t"))
        world.run_for(60)
        world.forge.new_patchset(2, bad=False)  # still in the topic, not approved
        world.event("patchset-created", 2)
        world.run()
        assert world.forge.merges == [] and world.queued() == 0
        assert any(n == 1 and "Change 2 of its topic 't'" in m for n, m in world.forge.messages)
    finally:
        world.close()


def test_a_member_that_leaves_the_topic_is_tested_and_merged_apart() -> None:
    world = GateWorld(repos=["a", "b"], nodes=10, queue_options=BY_TOPIC_OPTIONS)
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, topic="t"))
        world.add_change(SimChange(2, "b", ("src/2.py",), True, 0.0, topic="t"))
        world.run_for(60)
        assert world.queued() == 2
        world.forge.changes[1].topic = ""
        world.event("topic-changed", 1, old_topic="t")
        world.run()
        # 1 no longer waits for its former topic: it merges, 2 fails on its own
        assert [m.number for m in world.forge.merges] == [1]
        assert {n for n, action, _ in world.forge.reports if action == "failure"} == {2}
    finally:
        world.close()


def _states(world: GateWorld, number: int) -> list[dict]:
    with world.store.read() as s:
        return [bs.repo_state for bs in s.scalars(
            select(BuildSetRow).join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
            .where(QueueItemRow.change_number == number))]


@pytest.mark.parametrize("options, together", [(BY_TOPIC_OPTIONS, True),
                                               ({"allow-circular-dependencies": True}, False)])
def test_an_independent_pipeline_tests_a_change_with_its_topics_changes(
        options: dict, together: bool) -> None:
    """As with Depends-On, a change in check is tested with the other open changes of
    its topic (each is still an item of its own, reported on its own)."""
    world = GateWorld(repos=["a", "b"], nodes=10, queue_options=options,
                      manager="independent")
    try:
        world.add_change(SimChange(1, "a", ("src/1.py",), False, 0.0, topic="t"))
        world.forge.add(SimChange(2, "b", ("src/2.py",), False, 0.0, topic="t"))
        world.run()
        (state,) = _states(world, 1)
        assert state["a"]["numbers"] == [1]
        assert (state.get("b") or {}).get("numbers", []) == ([2] if together else [])
    finally:
        world.close()
