"""The whole gate, in one process: real git, real Ansible, the test's store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.fakes.tenant import PIPELINES, GateTenant, git
from zuulish.cli import main
from zuulish.store import BuildRow, BuildSetRow, MergeRequestRow, QueueItemRow
from zuulish.web.history import build_info

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


def make_branch(t: GateTenant, project: str, branch: str,
                files: dict[str, str] | None = None) -> None:
    """An administrator's push of a new ``branch`` from main (with ``files`` changed)."""
    import os

    from tests.fakes.tenant import git
    from zuulish.drivers.git.connection import ADMIN_ENV

    work = t.tmp / f"branching-{branch.replace('/', '-')}"
    git(t.tmp, "clone", "-q", str(t.forge.repo_path(project)), str(work))
    if files:
        for path, text in files.items():
            (work / path).write_text(text)
        git(work, "commit", "-q", "-am", f"Branch {branch}")
    os.environ[ADMIN_ENV] = "1"
    try:
        git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    finally:
        del os.environ[ADMIN_ENV]


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {
        "org/app": {".zuul.yaml": APP_CONFIG, "value.txt": "good\n"},
        "org/other": {".zuul.yaml": APP_CONFIG, "value.txt": "good\n"},
    })
    t.start()
    yield t
    t.stop()


def test_check_votes_on_a_pushed_change(tenant: GateTenant) -> None:
    good = tenant.push("org/app", {"new.txt": "x\n"}, "Good change")
    bad = tenant.push("org/app", {"value.txt": "bad\n"}, "Bad change")
    assert tenant.wait_reported(good, "check").result == "SUCCESS"
    assert tenant.wait_reported(bad, "check").result == "FAILURE"
    assert tenant.change(good).approvals.get("Verified") == 1
    assert tenant.change(bad).approvals.get("Verified") == -1


def test_gate_merges_good_changes_and_rejects_the_bad_one(tenant: GateTenant) -> None:
    first = tenant.push("org/app", {"a.txt": "a\n"}, "First")
    bad = tenant.push("org/other", {"value.txt": "bad\n"}, "Bad")
    last = tenant.push("org/other", {"c.txt": "c\n"}, "Last")
    for n in (first, bad, last):
        tenant.approve(n)
    tenant.wait_for(lambda: tenant.change(last).status == "MERGED", what="last merged")
    assert tenant.change(first).status == "MERGED"
    assert tenant.wait_reported(bad, "gate").result == "FAILURE"
    assert tenant.change(bad).status == "NEW"
    # What merged is what was tested: the branch holds the good changes only.
    assert tenant.branch_file("org/app", "a.txt") == "a\n"
    assert tenant.branch_file("org/other", "c.txt") == "c\n"
    assert tenant.branch_file("org/other", "value.txt") == "good\n"
    assert tenant.forge.branch_tip("org/other", "main") == tenant.change(last).merged_sha


def test_broken_config_is_reported_on_the_change_with_file_and_line(
        tenant: GateTenant) -> None:
    number = tenant.push("org/app", {".zuul.yaml": APP_CONFIG + "- job:\n    nmae: x\n"},
                         "Break the config")
    report = tenant.wait_reported(number, "check")
    assert report.result == "CONFIG_ERROR"
    assert "org/app/.zuul.yaml:" in report.message and "nmae" in report.message
    # Everyone else is still served.
    other = tenant.push("org/other", {"x.txt": "x\n"}, "Unrelated")
    assert tenant.wait_reported(other, "check").result == "SUCCESS"


def test_missing_playbook_fails_the_build_with_a_message(tenant: GateTenant) -> None:
    config = APP_CONFIG.replace("parent: run-shell", "run: playbooks/missing.yaml")
    number = tenant.push("org/app", {".zuul.yaml": config}, "Use a missing playbook")
    report = tenant.wait_reported(number, "check")
    assert report.result == "FAILURE"
    with tenant.aio.store.read() as s:
        build = s.scalars(select(BuildRow).where(BuildRow.job == "app-test")).one()
        tested = build.params["repo_state"]["org/app"]["commit"]
    reason = f"run playbook playbooks/missing.yaml not found in org/app at {tested[:12]}"
    # the reason is on the change, after the build's line, and on the build
    assert re.search(rf"/build/{build.id} : ERROR in \d+s: {re.escape(reason)}\n",
                     report.message), report.message
    info = build_info(tenant.aio.store, build.id, "http://zuulish.test")
    assert info is not None and info["message"] == reason
    # the executor's own paths show nowhere: not in the report, the build, its log
    state = str(tenant.config.state_dir)
    assert state not in report.message and state not in info["message"]
    mentions = [line for line in tenant.job_outputs().splitlines() if "missing.yaml" in line]
    assert any(reason in line for line in mentions)
    assert mentions and not any(state in line for line in mentions)


def test_depends_on_change_is_tested_together(tenant: GateTenant) -> None:
    lib = tenant.push("org/other", {"feature.txt": "yes\n"}, "Feature")
    config = APP_CONFIG.replace('test "$(cat value.txt)" != bad',
                                "test -f ../other/feature.txt")
    config = config.replace("parent: run-shell",
                            "parent: run-shell\n    required-projects: [org/other]")
    app = tenant.push("org/app", {".zuul.yaml": config}, "Needs feature", depends_on=[lib])
    # needs lib too, but nobody approves it: it waits
    idle = tenant.push("org/app", {"idle.txt": "idle\n"}, "Also needs it", depends_on=[lib])
    assert tenant.wait_reported(app, "check").result == "SUCCESS"
    tenant.approve(app)  # lib is not approved: the app cannot enter the gate alone
    report = tenant.wait_for(lambda: next((r for r in tenant.reports(app, "gate")), None),
                             what="rejection")
    assert "does not meet the requirements" in report.message
    # approving lib enqueues it, and the app behind it, as Zuul does: the app's
    # approval is not asked for again
    tenant.approve(lib)
    tenant.wait_for(lambda: tenant.change(app).status == "MERGED", what="app merged")
    assert tenant.change(lib).status == "MERGED"
    assert [r.action for r in tenant.reports(idle, "gate")] == []
    assert tenant.change(idle).status == "NEW"


def test_change_pushed_while_zuulish_is_down_is_tested_after_start(
        tmp_path: Path, database_url: str) -> None:
    t = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP_CONFIG,
                                                        "value.txt": "good\n"}})
    number = t.push("org/app", {"x.txt": "x\n"}, "Pushed while down")
    t.start()
    try:
        assert t.wait_reported(number, "check").result == "SUCCESS"
    finally:
        t.stop()


def test_merged_config_change_takes_effect_for_later_changes(tenant: GateTenant) -> None:
    config = APP_CONFIG.replace("      jobs: [app-test]\n    gate:",
                                "      jobs: [app-test, second]\n    gate:")
    config += "- job:\n    name: second\n    parent: run-shell\n"
    # Tested with the configuration it proposes (an untrusted project's change).
    number = tenant.push("org/app", {".zuul.yaml": config}, "Add a second check job")
    assert "second" in tenant.wait_reported(number, "check").message
    tenant.approve(number)
    tenant.wait_for(lambda: tenant.change(number).status == "MERGED", what="config merged")
    later = tenant.push("org/app", {"z.txt": "z\n"}, "Unrelated change")
    report = tenant.wait_reported(later, "check")
    assert "- second " in report.message and "- app-test " in report.message


def test_file_matchers_and_job_vars_reach_real_builds(tenant: GateTenant) -> None:
    config = """
- job:
    name: docs-build
    parent: run-shell
    files: ['^doc/']
    # this change adds the job: with Zuul's default (true) it would run whatever
    # the files (tests/unit/test_match_on_config_updates.py); here the matchers decide
    match-on-config-updates: false
- job:
    name: vars-check
    parent: run-shell
    vars:
      command: test "{{ from_extra }}-{{ from_host }}" = extra-host
    extra-vars: {from_extra: extra}
    host-vars: {node: {from_host: host}}
- project:
    check:
      jobs: [docs-build, vars-check]
"""
    number = tenant.push("org/app", {".zuul.yaml": config, "src.txt": "x\n"}, "Matchers")
    report = tenant.wait_reported(number, "check")
    assert report.result == "SUCCESS", report.message
    assert "- vars-check " in report.message and "docs-build" not in report.message


def test_start_enqueue_and_dequeue_reporters(tmp_path: Path, database_url: str) -> None:
    from tests.fakes.tenant import PIPELINES

    pipelines = PIPELINES.replace("""    success:
      forge:
        Verified: 1
""", """    enqueue:
      forge: {}
    start:
      forge:
        Verified: 0
    dequeue:
      forge: {}
    success-message: All good here.
    success:
      forge:
        Verified: 1
""", 1)
    t = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP_CONFIG,
                                                        "value.txt": "good\n"}},
                   pipelines=pipelines)
    t.start()
    try:
        number = t.push("org/app", {"a.txt": "a\n"}, "First", change_id="I" + "1" * 16)
        t.wait_for(lambda: any(r.action == "start" for r in t.reports(number, "check")),
                   what="a start report")
        t.push("org/app", {"a.txt": "b\n"}, "First, again", change_id="I" + "1" * 16)
        report = t.wait_for(lambda: next((r for r in t.reports(number, "check")
                                          if r.action == "success"), None),
                            what="the new patch set's result")
        actions = [r.action for r in t.reports(number, "check")]
        assert actions[:3] == ["enqueue", "start", "dequeue"]
        assert report.message.startswith("All good here.") and report.patchset == 2
    finally:
        t.stop()


def test_each_branch_is_tested_with_its_own_configuration(tmp_path: Path,
                                                          database_url: str) -> None:
    t = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP_CONFIG,
                                                        "value.txt": "good\n"}})
    make_branch(t, "org/app", "stable/1",
                {".zuul.yaml": APP_CONFIG.replace("app-test", "stable-test")})
    t.start()
    try:
        on_stable = t.push("org/app", {"x.txt": "x\n"}, "Stable fix", branch="stable/1")
        on_main = t.push("org/app", {"y.txt": "y\n"}, "Main change")
        stable_report = t.wait_reported(on_stable, "check")
        main_report = t.wait_reported(on_main, "check")
    finally:
        t.stop()
    assert stable_report.result == main_report.result == "SUCCESS"
    assert "- stable-test " in stable_report.message
    assert "app-test" not in stable_report.message
    assert "- app-test " in main_report.message
    assert "stable-test" not in main_report.message


def test_changes_to_two_branches_of_a_project_in_one_gate_queue_merge_each_on_its_own(
        tmp_path: Path, database_url: str) -> None:
    """A project's changes to main and stable share its gate queue; the one on stable
    is tested, and merged, on stable, without the main change ahead of it."""
    t = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": APP_CONFIG,
                                                        "value.txt": "good\n"}})
    make_branch(t, "org/app", "stable/1")
    t.start()
    try:
        on_main = t.push("org/app", {"main-only.txt": "m\n"}, "Main change")
        on_stable = t.push("org/app", {"stable-only.txt": "s\n"}, "Stable fix",
                           branch="stable/1")
        t.approve(on_main)
        t.approve(on_stable)
        for number in (on_main, on_stable):
            t.wait_for(lambda n=number: t.change(n).status == "MERGED", timeout=180,
                       what=f"change {number} merged")
    finally:
        t.stop()
    assert t.branch_file("org/app", "stable-only.txt", "stable/1") == "s\n"
    assert t.branch_file("org/app", "main-only.txt", "stable/1") is None
    assert t.branch_file("org/app", "main-only.txt") == "m\n"
    assert t.branch_file("org/app", "stable-only.txt") is None


def test_gate_merges_in_the_projects_merge_mode_what_it_tested(
        tmp_path: Path, database_url: str) -> None:
    config = APP_CONFIG.replace("- project:\n", "- project:\n    merge-mode: cherry-pick\n")
    t = GateTenant(tmp_path, database_url,
                   {"org/app": {".zuul.yaml": config, "value.txt": "good\n"}})
    t.start()
    try:
        first = t.push("org/app", {"a.txt": "a\n"}, "First")
        second = t.push("org/app", {"b.txt": "b\n"}, "Second")
        t.approve(first)
        t.approve(second)
        t.wait_for(lambda: t.change(second).status == "MERGED", what="second merged")
        tip = t.forge.branch_tip("org/app", "main")
        assert tip == t.change(second).merged_sha
        repo = t.forge.repo_path("org/app")
        history = git(repo, "log", "--format=%P|%s", "-2", tip).splitlines()
        # picked onto the branch one by one: no merge commits, the changes' own subjects
        assert [line.split("|")[1] for line in history] == ["Second", "First"]
        assert all(len(line.split("|")[0].split()) == 1 for line in history)
        with t.aio.store.read() as s:
            rows = s.scalars(select(MergeRequestRow).order_by(MergeRequestRow.id)).all()
            gate = [r for r in rows if r.spec["changes"][-1]["number"] == second
                    and len(r.spec["changes"]) == 2]
            assert gate and all(r.spec.get("after") for r in gate)  # built on first's state
            assert gate[-1].result["repo_state"]["org/app"]["merge_mode"] == "cherry-pick"
    finally:
        t.stop()


def test_serial_pipeline_runs_one_item_of_a_queue_at_a_time(
        tmp_path: Path, database_url: str) -> None:
    pipelines = PIPELINES + (
        "\n- pipeline:\n    name: deploy\n    manager: serial\n"
        "    trigger:\n      forge:\n        - event: patchset-created\n"
        "    success:\n      forge: {}\n    failure:\n      forge: {}\n")
    config = APP_CONFIG + "    deploy:\n      jobs: [app-test]\n"
    t = GateTenant(tmp_path, database_url, {"org/app": {".zuul.yaml": config,
                                                        "value.txt": "good\n"}},
                   pipelines=pipelines)
    t.start()
    try:
        first = t.push("org/app", {"a.txt": "a\n"}, "First")
        second = t.push("org/app", {"b.txt": "b\n"}, "Second")
        reports = [t.wait_reported(n, "deploy") for n in (first, second)]
        assert [r.result for r in reports] == ["SUCCESS", "SUCCESS"]
        with t.aio.store.read() as s:
            started = dict(s.execute(
                select(QueueItemRow.change_number, func.min(BuildRow.started_at))
                .join(BuildSetRow, BuildSetRow.item_id == QueueItemRow.id)
                .join(BuildRow, BuildRow.buildset_id == BuildSetRow.id)
                .where(QueueItemRow.pipeline == "deploy")
                .group_by(QueueItemRow.change_number)).all())
        assert started[second] >= reports[0].created_at  # waited for the first's report
    finally:
        t.stop()


def test_required_project_added_by_the_change_itself_is_checked_out(
        tenant: GateTenant) -> None:
    """A job the change's own .zuul.yaml adds, with a required-project nothing else
    brings into the state: the speculative layout decides what is checked out."""
    config = APP_CONFIG.replace("jobs: [app-test]", "jobs: [app-test, needs-other]") + """
- job:
    name: needs-other
    parent: run-shell
    required-projects: [org/other]
    vars:
      command: >-
        test "$(cat ../other/value.txt)" = good &&
        test -n "{{ zuul.projects['localhost/org/other'].commit }}" &&
        test "{{ zuul.projects['localhost/org/other'].required }}" = True
"""
    number = tenant.push("org/app", {".zuul.yaml": config}, "Add a job needing org/other")
    report = tenant.wait_reported(number, "check")
    assert report.result == "SUCCESS", report.message
    assert "needs-other" in report.message
    # the build says which commit of each repository it tested
    with tenant.aio.store.read() as s:
        build = s.scalars(select(BuildRow).where(BuildRow.job == "needs-other")).one()
    info = build_info(tenant.aio.store, build.id, "http://zuulish.test")
    assert info is not None
    assert info["repos"]["org/other"] == {
        "branch": "main", "commit": tenant.forge.branch_tip("org/other", "main")}
    assert info["repos"]["org/app"]["commit"] not in (
        None, tenant.forge.branch_tip("org/app", "main"))
    # and in the gate, where the job is in the change's own layout only, too
    tenant.approve(number)
    tenant.wait_for(lambda: tenant.change(number).status == "MERGED", what="merged")
    assert tenant.wait_reported(number, "gate").result == "SUCCESS"


def test_approving_a_change_whose_dependency_is_not_approved_says_why_on_the_cli(
        tenant: GateTenant, capsys: pytest.CaptureFixture[str]) -> None:
    lib = tenant.push("org/other", {"feature.txt": "yes\n"}, "Feature")
    app = tenant.push("org/app", {"x.txt": "x\n"}, "Needs feature", depends_on=[lib])
    cfg = str(tenant.tmp / "zuulish.yaml")
    assert main(["-c", cfg, "review", str(app), "--approve"]) == 0
    out = capsys.readouterr().out
    assert f"approved change {app}" in out
    assert (f"change {app} will not enter t/gate: needed change {lib} does not meet the "
            "requirements of gate") in out
    # approving the change it needs enqueues both: the app is not approved again
    assert main(["-c", cfg, "review", str(lib), "--approve"]) == 0
    out = capsys.readouterr().out
    assert f"change {lib} entered t/gate" in out
    assert f"change(s) {app}, waiting on it, entered t/gate behind it" in out
    assert main(["-c", cfg, "review", str(app), "--approve"]) == 0
    assert f"change {app} will not enter t/gate: change {app} is already in gate" in \
        capsys.readouterr().out


def test_gate_merge_commit_names_the_change_as_gerrit_does(tenant: GateTenant) -> None:
    first = tenant.push("org/app", {"a.txt": "a\n"}, "First")
    second = tenant.push("org/app", {"b.txt": "b\n"}, "Second")  # on the same tip
    tenant.approve(first)
    tenant.approve(second)
    tenant.wait_for(lambda: tenant.change(second).status == "MERGED", what="second merged")
    tip = tenant.forge.branch_tip("org/app", "main")
    assert tip == tenant.change(second).merged_sha  # tested, reproduced, merged: one sha
    repo = tenant.forge.repo_path("org/app")
    assert len(git(repo, "log", "-1", "--format=%P", tip).split()) == 2
    assert git(repo, "log", "-1", "--format=%B", tip).strip() == (
        f'Merge "Second"\n\nReviewed-on: {tenant.forge.change_url("org/app", second)}')


def test_a_change_needing_one_beyond_the_window_waits_for_it_and_merges(
        tmp_path: Path, database_url: str) -> None:
    # Issue 17, fault 1: with window 2, A2 (Depends-On B2) was rejected at once while
    # B2 waited beyond the window, and B2 merged moments later.
    pipelines = PIPELINES.replace("    precedence: high\n",
                                  "    precedence: high\n    window: 2\n    window-floor: 1\n")
    t = GateTenant(tmp_path, database_url, {
        "org/app": {".zuul.yaml": APP_CONFIG, "value.txt": "good\n"},
        "org/other": {".zuul.yaml": APP_CONFIG, "value.txt": "good\n"},
    }, pipelines=pipelines)
    t.start()
    try:
        a1 = t.push("org/app", {"a1.txt": "a1\n"}, "A1")
        b1 = t.push("org/other", {"b1.txt": "b1\n"}, "B1")
        b2 = t.push("org/other", {"b2.txt": "b2\n"}, "B2")
        a2 = t.push("org/app", {"a2.txt": "a2\n"}, "A2", depends_on=[b2])
        for number in (a1, b1, b2, a2):
            t.approve(number)
        t.wait_for(lambda: t.change(a2).status == "MERGED" or
                   any(r.action == "failure" for r in t.reports(a2, "gate")),
                   timeout=240, what="A2 merged or rejected")
        assert [(r.action, r.message) for r in t.reports(a2, "gate")
                if r.action == "failure"] == []
        assert [t.change(n).status for n in (a1, b1, b2, a2)] == ["MERGED"] * 4
        assert t.branch_file("org/other", "b2.txt") == "b2\n"
        assert t.branch_file("org/app", "a2.txt") == "a2\n"
    finally:
        t.stop()
