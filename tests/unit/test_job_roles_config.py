"""A job's ``roles`` as configured and frozen: which roles each playbook gets (Zuul's
``job.roles``), and the errors a ``roles`` entry can have, at its file and line."""

from __future__ import annotations

import pytest

from tests.unit.test_config_loader import PIPELINES, _trigger
from zuulish.config.freeze import freeze_job_graph
from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.model import FrozenJob, RoleRef

BASE = """
- nodeset:
    name: local
    nodes: [{name: node, label: local}]
- job:
    name: base
    parent: null
    nodeset: local
    roles: [{zuul: org/roles}]
    pre-run: playbooks/pre.yaml
    post-run: playbooks/post.yaml
"""
PARENT = """
- job:
    name: parent
    roles: [{zuul: org/more}]
    pre-run: playbooks/parent-pre.yaml
    run: playbooks/parent-run.yaml
"""
CHILD = """
- job:
    name: child
    parent: parent
    roles:
      - zuul: bare
        name: my-role
    run: playbooks/child-run.yaml
- project:
    check:
      jobs: [child]
"""


def tenant() -> TenantConfig:
    return TenantConfig("t", [TenantProject("forge", "config", True),
                              TenantProject("forge", "org/lib", False),
                              TenantProject("forge", "org/app", False),
                              TenantProject("forge", "org/roles", False),
                              TenantProject("forge", "org/more", False),
                              TenantProject("forge", "org/bare", False)])


def build(app: str, lib: str = "") -> Layout:
    loader = ConfigLoader(tenant(), {"forge": "git"}, {"git": _trigger})
    return loader.build({"config": ("main", {"zuul.d/pipelines.yaml": PIPELINES,
                                             "zuul.d/jobs.yaml": BASE}),
                         "org/lib": ("main", {".zuul.yaml": lib}),
                         "org/app": ("main", {".zuul.yaml": app})})


def frozen(layout: Layout, name: str) -> FrozenJob:
    assert layout.errors == [], layout.errors
    return freeze_job_graph(layout, "org/app", "main", "check").jobs[name]


def roles(*entries: tuple[str, str, bool]) -> tuple[RoleRef, ...]:
    return tuple(RoleRef(p, n, implicit) for p, n, implicit in entries)


BASE_ROLES = (("config", "config", True), ("org/roles", "roles", False))


def test_each_playbook_gets_the_roles_of_its_level_and_those_above() -> None:
    job = frozen(build(CHILD, lib=PARENT), "child")
    by_path = {b.path: b.roles for b in job.playbooks}
    assert by_path["playbooks/pre.yaml"] == roles(*BASE_ROLES)
    assert by_path["playbooks/post.yaml"] == roles(*BASE_ROLES)
    # the parent's own project comes implicitly first, before what it lists
    parent = (("org/lib", "lib", True), ("org/more", "more", False))
    assert by_path["playbooks/parent-pre.yaml"] == roles(*parent, *BASE_ROLES)
    # the child's roles come before those it inherits; a short project name is
    # the tenant's project of that name
    child = (("org/app", "app", True), ("org/bare", "my-role", False))
    assert by_path["playbooks/child-run.yaml"] == roles(*child, *parent, *BASE_ROLES)
    assert job.roles == roles(*child, *parent, *BASE_ROLES)
    assert job.content_projects() == ("config", "org/roles", "org/lib", "org/more",
                                      "org/app", "org/bare")
    assert FrozenJob.from_dict(job.to_dict()) == job


def test_listing_the_jobs_own_project_replaces_its_implicit_entry() -> None:
    app = CHILD.replace("- zuul: bare\n        name: my-role",
                        "- zuul: org/app\n        name: app-role")
    job = frozen(build(app, lib=PARENT), "child")
    [run] = job.run
    assert run.roles[0] == RoleRef("org/app", "app-role")
    assert [r.project for r in run.roles].count("org/app") == 1


def test_a_project_stanza_variant_adds_no_implicit_role() -> None:
    app = """
- project:
    check:
      jobs:
        - child:
            run: playbooks/other.yaml
"""
    job = frozen(build(app, lib=PARENT + CHILD.split("- project:")[0]), "child")
    [run] = job.run
    assert run.path == "playbooks/other.yaml"
    assert RoleRef("org/app", "app", True) not in run.roles


def test_a_job_frozen_before_roles_were_recorded_per_playbook_still_loads() -> None:
    data = frozen(build(CHILD, lib=PARENT), "child").to_dict()
    data["roles"] = [["org/roles", "roles"]]
    for book in data["run"]:
        del book["roles"]
    job = FrozenJob.from_dict(data)
    assert job.roles == (RoleRef("org/roles", "roles"),) and job.run[0].roles == ()


@pytest.mark.parametrize("entry, line, message", [
    ("- zuul: org/nowhere", 8,
     "job 'j': the roles entry names project 'org/nowhere', which is not in tenant 't'"),
    ("- zuul: nowhere", 8, "names project 'nowhere', which is not in tenant 't'"),
    ("- {zuul: org/roles, name: ../escape}", 8,
     "role name '../escape' of 'org/roles' is not a valid role name"),
    ("- {zuul: org/roles, nmae: x}", 8, "unknown attribute 'nmae' in job role"),
    ("- galaxy: some.role", 8, "Galaxy roles are not supported"),
])
def test_a_bad_roles_entry_is_an_error_at_its_line(entry: str, line: int,
                                                   message: str) -> None:
    app = ("- job:\n    name: j\n    run: r.yaml\n    roles:\n      - zuul: org/roles\n"
           "      - zuul: org/more\n"  # line 6
           "        name: more\n"
           f"      {entry}\n")
    layout = build(app)
    [error] = layout.errors
    assert message in str(error), error
    assert (error.file, error.line) == ("org/app/.zuul.yaml", line), (error.file, error.line)
