"""Zuul's ``allow-other-connections``: by default a change may need changes of other
connections (a pull request depending on a Gerrit change); ``false`` keeps out every
change of a connection the pipeline does not name."""

from __future__ import annotations

import pytest

from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.model import Change, ChangeKey, EventFilter
from zuulish.scheduler.enqueue import plan_enqueue


def _trigger(conn: str, entries: list) -> tuple[EventFilter, ...]:
    return tuple(EventFilter(conn, (e["event"],)) for e in entries)


def layout(allow: str) -> Layout:
    pipeline = ("- pipeline:\n    name: gate\n    manager: dependent\n"
                f"{allow}"
                "    trigger:\n      forge:\n        - event: comment-added\n"
                "    success:\n      forge:\n        submit: true\n")
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/app", False),
                                TenantProject("other", "org/lib", False)])
    jobs = "- job:\n    name: unit\n    run: u.yaml\n"
    stanza = "- project:\n    queue: shared\n    gate:\n      jobs: [unit]\n"
    loader = ConfigLoader(tenant, {"forge": "git", "other": "git"},
                          {"git": _trigger})
    return loader.build({"config": ("main", {"zuul.yaml": pipeline + jobs}),
                         "org/app": ("main", {".zuul.yaml": stanza}),
                         "org/lib": ("main", {".zuul.yaml": stanza})})


class Changes:
    """The changes of one connection, as its source gives them."""

    def __init__(self, *changes: Change):
        self.changes = {c.key.number: c for c in changes}

    def get_change(self, number: int) -> Change | None:
        return self.changes.get(number)


LIB = Change(ChangeKey("other", 3), "org/lib", "main", 1, "b" * 40)
APP = Change(ChangeKey("forge", 7), "org/app", "main", 1, "a" * 40, needs=(LIB.key,))
SOURCES = {"forge": Changes(APP), "other": Changes(LIB)}


def test_by_default_a_change_is_enqueued_behind_the_change_it_needs_elsewhere() -> None:
    built = layout("")
    assert built.errors == []
    plan = plan_enqueue(APP, built.pipelines["gate"], built, SOURCES, set(), {})
    assert plan.rejection is None
    assert [c.key for c in plan.changes] == [LIB.key, APP.key]


@pytest.mark.parametrize("change", [APP, LIB])
def test_false_keeps_out_changes_of_connections_the_pipeline_does_not_name(
        change: Change) -> None:
    built = layout("    allow-other-connections: false\n")
    assert built.errors == []
    plan = plan_enqueue(change, built.pipelines["gate"], built, SOURCES, set(), {})
    assert plan.changes == []
    assert "on connection 'other', which pipeline gate does not use " \
           "(allow-other-connections: false)" in str(plan.rejection)
