"""A one-pipeline layout for a connection named ``review`` of a given driver, and
whether a change may enter its ``check`` pipeline."""

from __future__ import annotations

from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.model import Change, EventFilter
from zuulish.scheduler.enqueue import plan_enqueue


def _trigger(conn: str, entries: list) -> tuple[EventFilter, ...]:
    return tuple(EventFilter(conn, (str(e["event"]),)) for e in entries)


def build(driver: str, require: str = "", reject: str = "") -> Layout:
    """``require``/``reject`` are YAML under the connection's name (8 spaces in);
    the first of their lines is line 9 of ``config/zuul.yaml``."""
    pipeline = ("- pipeline:\n    name: check\n    manager: independent\n"
                "    trigger:\n      review:\n        - event: anything\n")
    if require:
        pipeline += f"    require:\n      review:\n{require}"
    if reject:
        pipeline += f"    reject:\n      review:\n{reject}"
    tenant = TenantConfig("t", [TenantProject("review", "config", True),
                                TenantProject("review", "org/app", False)])
    loader = ConfigLoader(tenant, {"review": driver}, {driver: _trigger})
    return loader.build({
        "config": ("main", {"zuul.yaml": pipeline}),
        "org/app": ("main", {".zuul.yaml": "- job:\n    name: unit\n    run: u.yaml\n"
                                           "- project:\n    check:\n      jobs: [unit]\n"})})


def enter(built: Layout, candidate: Change, now: float) -> str | None:
    """None when ``candidate`` may enter ``check`` at ``now``, else why not."""
    assert built.errors == [], built.errors
    return plan_enqueue(candidate, built.pipelines["check"], built, {}, set(), {},
                        now=now).rejection
