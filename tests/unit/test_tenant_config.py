"""The tenant file: projects, include/exclude, limits, and the inheritance rules
(final, protected, intermediate) that tenants rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.config.freeze import freeze_job_graph
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import load_tenants
from zuulish.errors import ConfigError

TENANT = """
- tenant:
    name: main
    max-nodes-per-job: 2
    max-job-timeout: 600
    default-parent: root
    source:
      forge:
        config-projects:
          - config
        untrusted-projects:
          - org/lib:
              include: [job]
          - include: [job, project]
            projects:
              - org/app
              - org/web
"""


def tenant(tmp: Path, text: str = TENANT):
    (tmp / "main.yaml").write_text(text)
    return load_tenants(tmp / "main.yaml", {"forge"})


def test_options_and_project_groups_are_read(tmp_path: Path) -> None:
    [t] = tenant(tmp_path)
    assert (t.max_nodes_per_job, t.max_job_timeout, t.default_parent) == (2, 600, "root")
    assert [(p.name, p.trusted) for p in t.projects] == [
        ("config", True), ("org/lib", False), ("org/app", False), ("org/web", False)]
    lib = t.project("org/lib")
    assert lib.loads("job") and not lib.loads("project")
    assert t.project("org/web").loads("project")


def test_each_project_knows_its_line_in_the_tenant_file(tmp_path: Path) -> None:
    [t] = tenant(tmp_path)
    assert [(p.name, p.file, p.line) for p in t.projects] == [
        ("config", str(tmp_path / "main.yaml"), 10),
        ("org/lib", str(tmp_path / "main.yaml"), 12),
        ("org/app", str(tmp_path / "main.yaml"), 16),
        ("org/web", str(tmp_path / "main.yaml"), 17)]


@pytest.mark.parametrize("text, message", [
    (TENANT.replace("max-job-timeout", "max-job-timout"), "did you mean 'max-job-timeout'"),
    (TENANT.replace("include: [job]", "include: [jobs]"), "did you mean 'job'"),
    (TENANT.replace("forge:", "gerrit:"), "unknown connection 'gerrit'"),
    (TENANT.replace("max-nodes-per-job: 2", "max-nodes-per-job: lots"), "positive integer"),
    (TENANT + TENANT.replace("- tenant:\n", "- tenant:\n", 1), "defined twice"),
])
def test_bad_tenant_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        tenant(tmp_path, text)
    assert str(tmp_path / "main.yaml") in str(info.value)


CONFIG = """
- job:
    name: root
    parent: null
    run: r.yaml
    timeout: 300
- job:
    name: sealed
    final: true
    run: s.yaml
- job:
    name: guarded
    protected: true
    run: g.yaml
- job:
    name: middle
    abstract: true
    intermediate: true
"""


def layout_for(tmp: Path, app: str, lib: str = "- job:\n    name: lib-job\n"
               "    run: l.yaml\n- project:\n    name: org/lib\n    check: {jobs: []}\n"):
    [t] = tenant(tmp)
    loader = ConfigLoader(t, {"forge": "git"}, {"git": lambda c, e: ()})
    return loader.build({"config": ("main", {"zuul.yaml": CONFIG + "- pipeline:\n"
                                             "    name: check\n    manager: independent\n"}),
                         "org/lib": ("main", {".zuul.yaml": lib}),
                         "org/app": ("main", {".zuul.yaml": app})})


def project(jobs: str) -> str:
    return f"- project:\n    name: org/app\n    check:\n      jobs: [{jobs}]\n"


def test_excluded_object_types_are_not_loaded(tmp_path: Path) -> None:
    layout = layout_for(tmp_path, project("lib-job"))
    assert "lib-job" in layout.jobs and "org/lib" not in layout.projects


def test_default_parent_and_limits_come_from_the_tenant(tmp_path: Path) -> None:
    app = "- job:\n    name: a\n    run: a.yaml\n" + project("a")
    graph = freeze_job_graph(layout_for(tmp_path, app), "org/app", "main", "check")
    assert graph.jobs["a"].inheritance_path == ("root", "a")
    slow = app.replace("run: a.yaml", "run: a.yaml\n    timeout: 3600")
    with pytest.raises(ConfigError, match="max-job-timeout of 600s"):
        freeze_job_graph(layout_for(tmp_path, slow), "org/app", "main", "check")
    big = app.replace("run: a.yaml", "run: a.yaml\n    nodeset:\n      nodes:\n"
                      "        - {name: a, label: x}\n        - {name: b, label: x}\n"
                      "        - {name: c, label: x}")
    with pytest.raises(ConfigError, match="max-nodes-per-job of 2"):
        freeze_job_graph(layout_for(tmp_path, big), "org/app", "main", "check")


@pytest.mark.parametrize("parent, message", [
    ("sealed", "it is final"),
    ("guarded", "it is protected and may only be inherited by jobs of 'config'"),
    ("middle", "must be abstract itself"),
])
def test_inheritance_rules(tmp_path: Path, parent: str, message: str) -> None:
    app = f"- job:\n    name: child\n    parent: {parent}\n    run: c.yaml\n" + project("child")
    with pytest.raises(ConfigError, match=message):
        freeze_job_graph(layout_for(tmp_path, app), "org/app", "main", "check")


HEAD = "- tenant:\n    name: main\n"
SOURCE = "    source:\n      forge:\n        untrusted-projects:\n"


@pytest.mark.parametrize("text, line, message", [
    (HEAD + "    exclude-unprotected-branches: true\n", 3,
     "'exclude-unprotected-branches' is not available in zuulish: the built-in forge has no "
     "protected branches (only false is honoured)"),
    (HEAD + "    allowed-triggers: [forge]\n", 3, "'allowed-triggers' is not available"),
    (HEAD + "    admin-rules: [admins]\n", 3, "admin-rules: no authorization rule named 'admins'"),
    (HEAD + "    report-build-page: false\n", 3, "(only true is honoured)"),
    (HEAD + "    default-ansible-version: 9\n", 3,
     "default-ansible-version 9 is not available; zuulish runs Ansible"),
    (HEAD + SOURCE + "          - org/app:\n              extra-config-paths: [ci/]\n", 7,
     "project 'org/app': 'extra-config-paths' is not available"),
    (HEAD + SOURCE + "          - shadow: org/lib\n            projects: [org/app]\n", 6,
     "project group: 'shadow' is not available"),
    ("- admin-rule:\n    name: admins\n" + HEAD, 2, "'conditions' must be a list"),
])
def test_tenant_options_zuulish_does_not_honour_are_refused_at_their_line(
        tmp_path: Path, text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        tenant(tmp_path, text)
    assert info.value.line == line and message in info.value.message, info.value


def test_tenant_options_with_the_value_zuulish_honours_are_accepted(tmp_path: Path) -> None:
    from zuulish.config.parser import SHIPPED_ANSIBLE
    [main] = tenant(tmp_path, HEAD + "    exclude-unprotected-branches: false\n"
                                     "    report-build-page: true\n"
                                     f"    default-ansible-version: '{SHIPPED_ANSIBLE}'\n")
    assert main.name == "main"
