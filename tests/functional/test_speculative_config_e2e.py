"""A change's own configuration decides, before it merges, whether it is enqueued
and what it runs: a project's first ``project:`` stanza puts it in check and gate,
and the ``required-projects`` a change adds are checked out for its jobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import GateTenant
from zuulish.store import BuildRow, EventRow, QueueItemRow

pytestmark = [pytest.mark.slow, pytest.mark.store]

APP_CONFIG = """
- job:
    name: app-test
    parent: run-shell
    vars:
      command: test "$(cat value.txt)" != bad
- project:
    queue: shared
    check:
      jobs: [app-test]
    gate:
      jobs: [app-test]
"""
FIRST_STANZA = """
- job:
    name: new-test
    parent: run-shell
    vars:
      command: test "$(cat value.txt)" = good
- project:
    check:
      jobs: [new-test]
    gate:
      jobs: [new-test]
"""
# reads org/other's value.txt: only there when org/other is checked out
NEEDS_OTHER = 'test "$(cat ../other/value.txt)" = other'


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {
        "org/app": {".zuul.yaml": APP_CONFIG, "value.txt": "good\n"},
        "org/new": {"value.txt": "good\n"},  # no configuration yet
        "org/other": {"value.txt": "other\n"},
    })
    t.start()
    yield t
    t.stop()


def _approval_outcome(tenant: GateTenant, number: int) -> str | None:
    with tenant.aio.store.read() as s:
        return s.scalars(select(EventRow.outcome).where(
            EventRow.change_number == number, EventRow.type == "comment-added",
            EventRow.processed_at.is_not(None))).first()


def _ended_item(tenant: GateTenant, number: int, pipeline: str) -> QueueItemRow | None:
    with tenant.aio.store.read() as s:
        return s.scalars(select(QueueItemRow).where(
            QueueItemRow.change_number == number, QueueItemRow.pipeline == pipeline,
            QueueItemRow.state != "queued")).first()


def _jobs_run(tenant: GateTenant, pipeline_report: str) -> list[str]:
    return [line.split()[1] for line in pipeline_report.splitlines()
            if line.startswith("- ")]


def test_a_projects_first_stanza_enters_check_and_gate_and_merges(
        tenant: GateTenant) -> None:
    number = tenant.push("org/new", {".zuul.yaml": FIRST_STANZA}, "Add the first stanza")
    report = tenant.wait_reported(number, "check")
    assert report.result == "SUCCESS", report.message
    assert _jobs_run(tenant, report.message) == ["new-test"], report.message
    tenant.approve(number)
    tenant.wait_for(lambda: tenant.change(number).status == "MERGED", what="merged")
    gate = tenant.wait_reported(number, "gate")
    assert gate.result == "SUCCESS" and "new-test" in gate.message, gate.message
    # merged: the project now runs its jobs on every change
    later = tenant.push("org/new", {"x.txt": "x\n"}, "Later")
    assert _jobs_run(tenant, tenant.wait_reported(later, "check").message) == ["new-test"]


def test_a_first_stanza_with_an_error_is_reported_on_the_change(tenant: GateTenant) -> None:
    broken = FIRST_STANZA.replace("      jobs: [new-test]\n    gate:",
                                  "      jobs: [no-such-job]\n    gate:")
    number = tenant.push("org/new", {".zuul.yaml": broken}, "A broken first stanza")
    report = tenant.wait_reported(number, "check")
    assert report.result == "CONFIG_ERROR", report.message
    assert "org/new/.zuul.yaml" in report.message and "no-such-job" in report.message


def test_a_first_stanza_without_gate_jobs_leaves_the_gate_unmerged(
        tenant: GateTenant) -> None:
    """Its own layout gives it no gate jobs: it enters the gate (its configuration
    could have given it some) and leaves it with no jobs run, not merged."""
    check_only = FIRST_STANZA.split("    gate:")[0]
    number = tenant.push("org/new", {".zuul.yaml": check_only}, "Check only")
    assert tenant.wait_reported(number, "check").result == "SUCCESS"
    tenant.approve(number)
    outcome = tenant.wait_for(lambda: _approval_outcome(tenant, number),
                              what="the approval's event processed")
    assert f"t/gate: enqueued {number}" in outcome, outcome
    item = tenant.wait_for(lambda: _ended_item(tenant, number, "gate"), what="gate item ended")
    assert (item.state, item.result) == ("failed", "NO_JOBS"), (item.state, item.message)
    assert tenant.change(number).status == "NEW"
    with tenant.aio.store.read() as s:  # the check build only
        assert s.scalars(select(BuildRow.job)).all() == ["new-test"]


@pytest.mark.parametrize("where", ["job", "project-pipeline variant"])
def test_required_projects_a_change_adds_to_a_running_job_are_checked_out(
        tenant: GateTenant, where: str) -> None:
    config = APP_CONFIG.replace('test "$(cat value.txt)" != bad', NEEDS_OTHER)
    if where == "job":
        config = config.replace("    parent: run-shell\n",
                                "    parent: run-shell\n    required-projects: [org/other]\n")
    else:
        config = config.replace("      jobs: [app-test]\n",
                                "      jobs:\n        - app-test:\n"
                                "            required-projects: [org/other]\n")
    number = tenant.push("org/app", {".zuul.yaml": config}, "Require org/other")
    report = tenant.wait_reported(number, "check")
    assert report.result == "SUCCESS", f"{report.message}\n{tenant.job_outputs()}"
    with tenant.aio.store.read() as s:
        build = s.scalars(select(BuildRow).where(BuildRow.job == "app-test")).one()
    assert "org/other" in build.params["repo_state"]
    tenant.approve(number)
    tenant.wait_for(lambda: tenant.change(number).status == "MERGED", what="merged")
    assert tenant.wait_reported(number, "gate").result == "SUCCESS"


LIB_CONFIG = """
- job:
    name: lib-job
    parent: run-shell
"""


def test_required_projects_a_needed_change_adds_reach_the_jobs_of_the_change_needing_it(
        tmp_path: Path, database_url: str) -> None:
    """The job is another project's (a library of jobs): a change to it adding
    ``required-projects``, and a change that Depends-On it, run with them."""
    t = GateTenant(tmp_path, database_url, {
        "org/lib": {".zuul.yaml": LIB_CONFIG},
        "org/app": {".zuul.yaml": "- project:\n    check:\n      jobs: [lib-job]\n"},
        "org/other": {"value.txt": "other\n"},
    }).start()
    try:
        lib = t.push("org/lib", {".zuul.yaml": LIB_CONFIG + "    required-projects: [org/other]\n"
                                 f"    vars:\n      command: '{NEEDS_OTHER}'\n"},
                     "Require org/other")
        app = t.push("org/app", {"x.txt": "x\n"}, "Use it", depends_on=[lib])
        report = t.wait_reported(app, "check")
        assert report.result == "SUCCESS", f"{report.message}\n{t.job_outputs()}"
        with t.aio.store.read() as s:
            params = s.scalars(select(BuildRow.params).where(BuildRow.job == "lib-job")).all()
        assert params and all("org/other" in p["repo_state"] for p in params)
    finally:
        t.stop()


def test_a_first_stanzas_job_gets_its_required_projects(tenant: GateTenant) -> None:
    config = FIRST_STANZA.replace('test "$(cat value.txt)" = good', NEEDS_OTHER).replace(
        "    parent: run-shell\n", "    parent: run-shell\n    required-projects: [org/other]\n")
    number = tenant.push("org/new", {".zuul.yaml": config}, "First stanza, needing org/other")
    report = tenant.wait_reported(number, "check")
    assert report.result == "SUCCESS", f"{report.message}\n{tenant.job_outputs()}"
    tenant.approve(number)
    tenant.wait_for(lambda: tenant.change(number).status == "MERGED", what="merged")
    assert tenant.wait_reported(number, "gate").result == "SUCCESS"


def test_required_projects_named_by_canonical_name_are_checked_out(
        tenant: GateTenant) -> None:
    config = APP_CONFIG.replace('test "$(cat value.txt)" != bad', NEEDS_OTHER).replace(
        "    parent: run-shell\n",
        "    parent: run-shell\n    required-projects: [localhost/org/other]\n")
    number = tenant.push("org/app", {".zuul.yaml": config}, "Require org/other canonically")
    report = tenant.wait_reported(number, "check")
    assert report.result == "SUCCESS", f"{report.message}\n{tenant.job_outputs()}"


def test_a_required_project_the_tenant_lacks_is_a_config_error_on_the_change(
        tenant: GateTenant) -> None:
    config = APP_CONFIG.replace("    parent: run-shell\n",
                                "    parent: run-shell\n    required-projects: [org/nope]\n")
    number = tenant.push("org/app", {".zuul.yaml": config}, "Require a project not there")
    report = tenant.wait_reported(number, "check")
    assert report.result == "CONFIG_ERROR", report.message
    assert "org/app/.zuul.yaml:5: job 'app-test': required project 'org/nope' is not a " \
           "project of tenant 't'" in report.message, report.message
