"""In a dependent pipeline a change may need a change of another project on another
branch (a GitHub repository's ``main`` and a Gerrit project's ``master``), as in Zuul,
when both share a queue; a ``per-branch`` queue keeps them apart, and a change
needing its own project's change on another branch is refused."""

from __future__ import annotations

from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.model import Change, ChangeKey, EventFilter
from zuulish.scheduler.enqueue import plan_enqueue

PIPELINES = """
- pipeline:
    name: gate
    manager: dependent
    trigger: {forge: [{event: comment-added}]}
- job:
    name: unit
"""
PROJECT = """
- project:
    queue: shared
    gate:
      jobs: [unit]
"""


def _trigger(conn: str, entries: list) -> tuple[EventFilter, ...]:
    return tuple(EventFilter(conn, (e["event"],)) for e in entries)


def _layout(queue: str = "") -> Layout:
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/app", False),
                                TenantProject("forge", "org/lib", False)])
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    return loader.build({"config": ("main", {"zuul.yaml": PIPELINES + queue}),
                         "org/app": ("main", {".zuul.yaml": PROJECT}),
                         "org/lib": ("master", {".zuul.yaml": PROJECT})})


class _Source:
    def __init__(self, *changes: Change):
        self.changes = {c.key.number: c for c in changes}

    def get_change(self, number: int) -> Change | None:
        return self.changes.get(number)


def _change(number: int, project: str, branch: str, needs: tuple[int, ...] = ()) -> Change:
    return Change(ChangeKey("forge", number), project, branch, 1, f"{number:040x}",
                  files=("x.txt",), needs=tuple(ChangeKey("forge", n) for n in needs))


def _plan(layout: Layout, change: Change, *others: Change):
    return plan_enqueue(change, layout.pipelines["gate"], layout,
                        {"forge": _Source(change, *others)}, set(), {})


def test_a_change_needing_another_projects_change_on_another_branch_is_enqueued_behind_it(
        ) -> None:
    lib = _change(1, "org/lib", "master")
    app = _change(2, "org/app", "main", needs=(1,))
    plan = _plan(_layout(), app, lib)
    assert plan.rejection is None, plan.rejection
    assert plan.changes == [lib, app]


def test_a_per_branch_queue_keeps_changes_of_other_branches_apart() -> None:
    layout = _layout("- queue:\n    name: shared\n    per-branch: true\n")
    lib = _change(1, "org/lib", "master")
    app = _change(2, "org/app", "main", needs=(1,))
    plan = _plan(layout, app, lib)
    assert plan.rejection is not None and "does not share a queue" in plan.rejection


def test_a_change_needing_its_own_projects_change_on_another_branch_is_refused() -> None:
    stable = _change(1, "org/app", "stable")
    app = _change(2, "org/app", "main", needs=(1,))
    plan = _plan(_layout(), app, stable)
    assert plan.rejection == "needed change 1 is for branch 'stable'"
