"""A pipeline's ``require`` and ``reject`` beyond approvals: the change's state
(``open``, ``current-patchset``, ``merged``, ``status``) is checked when a change
would enter; what zuulish cannot check is warned about or refused at its line."""

from __future__ import annotations

import pytest

from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.model import Change, ChangeKey, ChangeStatus, EventFilter
from zuulish.scheduler.enqueue import plan_enqueue


def _trigger(conn: str, entries: list) -> tuple[EventFilter, ...]:
    return tuple(EventFilter(conn, (e["event"],)) for e in entries)


def layout(require: str, reject: str = "", driver: str = "git") -> Layout:
    pipeline = ("- pipeline:\n    name: check\n    manager: independent\n"
                "    trigger:\n      forge:\n        - event: patchset-created\n")
    if require:
        pipeline += f"    require:\n      forge:\n{require}"
    if reject:
        pipeline += f"    reject:\n      forge:\n{reject}"
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/app", False)])
    loader = ConfigLoader(tenant, {"forge": driver}, {driver: _trigger})
    return loader.build({
        "config": ("main", {"zuul.yaml": pipeline}),
        "org/app": ("main", {".zuul.yaml": "- job:\n    name: unit\n    run: u.yaml\n"
                                           "- project:\n    check:\n      jobs: [unit]\n"})})


def change(status: ChangeStatus = ChangeStatus.NEW, **approvals: int) -> Change:
    return Change(ChangeKey("forge", 7), "org/app", "main", 2, "c0ffee", status=status,
                  approvals=dict(approvals))


def enter(built: Layout, candidate: Change) -> str | None:
    """None when the change may enter ``check``, else why not."""
    assert built.errors == [], built.errors
    plan = plan_enqueue(candidate, built.pipelines["check"], built, {}, set(), {})
    return plan.rejection


def test_require_open_and_current_patchset_admit_an_open_change() -> None:
    built = layout("        open: true\n        current-patchset: true\n")
    assert enter(built, change()) is None
    assert "needs open: true" in enter(built, change(ChangeStatus.ABANDONED))


def test_require_status_and_merged_are_the_changes_state() -> None:
    closed = layout("        status: [MERGED, ABANDONED]\n        open: false\n")
    assert "needs open: false, status: MERGED or ABANDONED" in enter(closed, change())
    assert "needs merged: true" in enter(layout("        merged: true\n"), change())
    # a closed change that meets the requirements still does not enter
    assert enter(closed, change(ChangeStatus.ABANDONED)) == "change 7 is abandoned"


def test_require_current_patchset_false_is_never_met() -> None:
    # The scheduler enqueues the current patch set of a change, always.
    built = layout("        current-patchset: false\n")
    assert "needs current-patchset: false" in enter(built, change())


def test_reject_open_keeps_open_changes_out() -> None:
    built = layout("", reject="        open: true\n")
    assert "kept out of check by open: true" in enter(built, change())


def test_reject_status_and_approvals_together() -> None:
    built = layout("", reject="        status: NEW\n        approval:\n"
                              "          - Code-Review: -2\n")
    assert "kept out of check by status: NEW" in enter(built, change())


@pytest.mark.parametrize("require, line, message", [
    ("        wip: true\n", 9, "unknown attribute 'wip' in pipeline 'check' require 'forge'"),
    ("        open: sometimes\n", 9, "'open' must be true or false"),
    ("        status: pending\n", 9, "status must be a change status (NEW, MERGED, "
                                      "ABANDONED), not 'pending'"),
    ("        approval:\n          - Verified: 1\n            newer-than: 48h\n", 11,
     "approval 'newer-than' is not available: the forge does not record when a vote"),
    ("        approval:\n          - Verified: 1\n            email: a@b\n", 11,
     "approval 'email' is not available"),
    ("        approval:\n          - Verified: high\n", 10,
     "approval 'Verified' must be a number or a list of numbers"),
])
def test_what_zuulish_cannot_check_is_refused_at_its_line(require: str, line: int,
                                                          message: str) -> None:
    built = layout(require)
    [error] = built.errors
    assert (error.file, error.line) == ("config/zuul.yaml", line)
    assert message in error.message


def test_what_real_configurations_use_is_warned_about_and_ignored() -> None:
    built = layout("        approval:\n          - Verified: [1, 2]\n            username: zuul\n"
                   "        label: [mergeit]\n")
    assert built.errors == []
    assert sorted((w.line, w.message) for w in built.warnings) == [
        (11, "pipeline 'check': require approval 'username' is ignored: the forge does not "
             "record who voted"),
        (12, "pipeline 'check' require 'label' is ignored: zuulish does not read GitHub "
             "labels")]
    assert str(built.warnings[0]).startswith("config/zuul.yaml:")
    assert ": warning: " in str(built.warnings[0])
    # the approval itself is still required
    assert "needs Verified: 1 or 2" in enter(built, change())
    assert enter(built, change(Verified=2)) is None
