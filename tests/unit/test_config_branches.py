"""Configuration read from every branch, with Zuul's implied branch matchers and pragmas."""

from __future__ import annotations

import pytest

from tests.unit.test_config_loader import JOBS, PIPELINES, _trigger
from zuulish.config.freeze import freeze_job_graph
from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject, load_tenants
from zuulish.errors import ConfigError


def app_config(job_var: str, extra: str = "") -> str:
    return f"""
- job:
    name: unit
    run: playbooks/unit.yaml
    vars: {{where: {job_var}}}
- project:
    check:
      jobs: [unit]
{extra}"""


def build(app: dict[str, str], *, lib: dict[str, str] | None = None,
          app_option: bool | None = None) -> Layout:
    """A tenant with a config project, ``org/app`` (one file per branch) and, when
    given, the single-branch ``org/lib``."""
    projects = [TenantProject("forge", "config", True),
                TenantProject("forge", "org/app", False, implied_branch_matchers=app_option)]
    files: dict = {"config": {"main": {"zuul.d/pipelines.yaml": PIPELINES,
                                       "zuul.d/jobs.yaml": JOBS}},
                   "org/app": {branch: {".zuul.yaml": text} for branch, text in app.items()}}
    if lib is not None:
        projects.append(TenantProject("forge", "org/lib", False))
        files["org/lib"] = {"main": lib}
    loader = ConfigLoader(TenantConfig("t", projects), {"forge": "git"}, {"git": _trigger})
    return loader.build_branches(files)


def where_unit_runs(layout: Layout, branch: str, project: str = "org/app") -> object:
    graph = freeze_job_graph(layout, project, branch, "check")
    return graph.jobs["unit"].vars["where"] if "unit" in graph.jobs else None


def test_each_branch_runs_the_job_variant_defined_on_it() -> None:
    layout = build({"main": app_config("main"), "stable/1": app_config("stable")})
    assert layout.errors == []
    assert where_unit_runs(layout, "main") == "main"
    assert where_unit_runs(layout, "stable/1") == "stable"
    # A branch with no configuration of its own runs nothing of this project's.
    assert where_unit_runs(layout, "feature") is None


def test_a_project_stanza_applies_to_the_branch_it_is_on() -> None:
    stable = "- job:\n    name: unit\n    run: playbooks/unit.yaml\n    vars: {where: stable}\n"
    layout = build({"main": app_config("main"), "stable/1": stable})
    assert where_unit_runs(layout, "main") == "main"
    assert where_unit_runs(layout, "stable/1") is None  # no project stanza on stable/1


def test_jobs_of_a_single_branch_project_apply_to_every_branch() -> None:
    lib = {"zuul.yaml": "- job:\n    name: lib-job\n    run: playbooks/lib.yaml\n"}
    app = app_config("main").replace("jobs: [unit]", "jobs: [unit, lib-job]")
    layout = build({"main": app, "stable/1": app.replace("{where: main}", "{where: st}")},
                   lib=lib)
    for branch in ("main", "stable/1"):
        assert "lib-job" in freeze_job_graph(layout, "org/app", branch, "check").jobs


def test_config_project_jobs_have_no_implied_branch_matchers() -> None:
    layout = build({"main": app_config("main"), "stable/1": app_config("stable")})
    [base] = layout.jobs["base"]
    assert base.branches == ()


def test_pragma_turns_implied_matchers_off_for_its_file() -> None:
    pragma = "- pragma:\n    implied-branch-matchers: false\n"
    layout = build({"main": pragma + app_config("main"), "stable/1": "- job: {name: x}\n"})
    assert where_unit_runs(layout, "stable/1") == "main"


def test_pragma_implied_branches_name_the_branches_a_file_applies_to() -> None:
    pragma = "- pragma:\n    implied-branches: ['stable/.*']\n"
    layout = build({"main": app_config("main"), "stable/1": pragma + app_config("stable")})
    assert where_unit_runs(layout, "stable/2") == "stable"
    assert where_unit_runs(layout, "main") == "main"


def test_tenant_option_overrides_the_heuristic() -> None:
    layout = build({"main": app_config("main"), "stable/1": "- job: {name: x}\n"},
                   app_option=False)
    assert where_unit_runs(layout, "stable/1") == "main"


def test_explicit_branches_beat_implied_ones() -> None:
    main = app_config("main").replace("    vars:", "    branches: ['.*']\n    vars:", 1)
    layout = build({"main": main, "stable/1": "- job: {name: x}\n"}, app_option=None)
    [variant] = [v for v in layout.jobs["unit"]]
    assert variant.branches == (".*",)


def test_an_object_repeated_on_each_branch_is_not_a_duplicate() -> None:
    nodeset = "- nodeset:\n    name: app-nodes\n    nodes: [{name: n, label: local}]\n"
    layout = build({"main": nodeset + app_config("main"),
                    "stable/1": nodeset + app_config("stable")})
    assert layout.errors == []
    assert "app-nodes" in layout.nodesets
    # ... but the same name from two projects still is.
    clash = build({"main": nodeset + app_config("main")}, lib={"zuul.yaml": nodeset})
    assert any("already defined" in str(e) for e in clash.errors)


def test_errors_on_another_branch_name_that_branch() -> None:
    layout = build({"main": app_config("main"), "stable/1": "- job:\n    nmae: x\n"})
    # the missing name, and the misspelt key that is why
    assert [(e.file, e.line) for e in layout.errors] == [("org/app@stable/1/.zuul.yaml", 2)] * 2
    assert "unknown attribute 'nmae'" in str(layout.errors[1])


@pytest.mark.parametrize("project, branches, default, expected", [
    (TenantProject("c", "p", True), ["main", "stable"], "main", ["main"]),
    (TenantProject("c", "p", False), ["stable", "main", "dev"], "main",
     ["main", "dev", "stable"]),
    (TenantProject("c", "p", False, load_branch="stable"), ["main", "stable"], "main",
     ["stable"]),
    (TenantProject("c", "p", False, include_branches=("main", "stable/.*")),
     ["main", "stable/1", "dev"], "main", ["main", "stable/1"]),
    (TenantProject("c", "p", False, exclude_branches=("dev",)), ["main", "dev"], "main",
     ["main"]),
])
def test_which_branches_configuration_is_read_from(project: TenantProject, branches: list[str],
                                                   default: str, expected: list[str]) -> None:
    assert project.config_branches(branches, default) == expected


def test_tenant_file_branch_options_are_read_and_checked(tmp_path) -> None:
    path = tmp_path / "main.yaml"
    path.write_text("""
- tenant:
    name: t
    source:
      forge:
        untrusted-projects:
          - org/app:
              implied-branch-matchers: false
              include-branches: ['main', 'stable/.*']
              exclude-branches: 'stable/old'
""")
    [tenant] = load_tenants(path, {"forge"})
    [app] = tenant.projects
    assert app.implied_branch_matchers is False
    assert app.include_branches == ("main", "stable/.*")
    assert app.exclude_branches == ("stable/old",)
    path.write_text(path.read_text().replace("'stable/.*'", "'(['"))
    with pytest.raises(ConfigError, match="include-branches.*not a valid regular expression"):
        load_tenants(path, {"forge"})

