"""Who may run a job, and where: allowed-projects, post-review, and how the other
job attributes combine along the inheritance chain."""

from __future__ import annotations

import pytest

from tests.unit.test_config_loader import JOBS, PIPELINES, _trigger
from zuulish.config.freeze import freeze_job_graph
from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.errors import ConfigError
from zuulish.model import RoleRef

REVIEWED = """
- pipeline:
    name: post
    manager: independent
    post-review: true
    trigger:
      forge:
        - event: ref-updated
"""
SECRET = "- secret:\n    name: creds\n    data: {token: plain}\n"


def build(app: str, lib: str = "", central: str = "") -> Layout:
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/app", False),
                                TenantProject("forge", "org/lib", False),
                                TenantProject("forge", "org/roles", False),
                                TenantProject("forge", "org/more-roles", False)])
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    layout = loader.build({
        "config": ("main", {"zuul.d/pipelines.yaml": PIPELINES + REVIEWED,
                            "zuul.d/jobs.yaml": JOBS + central}),
        "org/lib": ("main", {".zuul.yaml": lib}),
        "org/app": ("main", {".zuul.yaml": app})})
    assert layout.errors == [], layout.errors
    return layout


def stanza(pipeline: str, *jobs: str, name: str = "") -> str:
    named = f"\n    name: {name}" if name else ""
    return f"- project:{named}\n    {pipeline}:\n      jobs: [{', '.join(jobs)}]\n"


LIB_JOB = "- job:\n    name: lib-only\n    run: r.yaml\n    allowed-projects: [org/lib]\n"


def test_a_job_runs_only_for_its_allowed_projects() -> None:
    layout = build(stanza("check", "lib-only"), lib=LIB_JOB + stanza("check", "lib-only"))
    assert "lib-only" in freeze_job_graph(layout, "org/lib", "main", "check").jobs
    with pytest.raises(ConfigError, match="job 'lib-only' may not be used by project "
                                          "'org/app' \\(allowed-projects: org/lib\\)"):
        freeze_job_graph(layout, "org/app", "main", "check")


def test_a_config_project_may_add_any_job_to_any_project() -> None:
    layout = build("", lib=LIB_JOB, central=stanza("check", "lib-only", name="org/app"))
    assert "lib-only" in freeze_job_graph(layout, "org/app", "main", "check").jobs


def test_allowed_projects_narrow_along_the_inheritance_chain() -> None:
    central = ("- job:\n    name: wide\n    run: r.yaml\n"
               "    allowed-projects: [org/app, org/lib]\n"
               "- job:\n    name: narrow\n    parent: wide\n    allowed-projects: [org/lib]\n")
    layout = build(stanza("check", "narrow"), lib=stanza("check", "narrow"), central=central)
    assert "narrow" in freeze_job_graph(layout, "org/lib", "main", "check").jobs
    with pytest.raises(ConfigError, match="may not be used by project 'org/app'"):
        freeze_job_graph(layout, "org/app", "main", "check")


def test_an_untrusted_job_with_a_secret_is_post_review_and_for_its_project_only() -> None:
    app = (SECRET + "- job:\n    name: deploy\n    run: d.yaml\n    secrets: [creds]\n"
           + stanza("check", "deploy") + "    post:\n      jobs: [deploy]\n")
    layout = build(app, lib=stanza("post", "deploy"))
    [deploy] = freeze_job_graph(layout, "org/app", "main", "post").jobs.values()
    assert deploy.post_review and deploy.allowed_projects == ("org/app",)
    with pytest.raises(ConfigError, match="post-review .* pre-review pipeline 'check'"):
        freeze_job_graph(layout, "org/app", "main", "check")
    with pytest.raises(ConfigError, match="may not be used by project 'org/lib'"):
        freeze_job_graph(layout, "org/lib", "main", "post")


def test_post_review_once_set_stays_set_in_children() -> None:
    central = ("- job:\n    name: publish\n    run: p.yaml\n    post-review: true\n"
               "- job:\n    name: publish-docs\n    parent: publish\n    post-review: false\n")
    layout = build(stanza("post", "publish-docs") + "    check:\n      jobs: [publish-docs]\n",
                   central=central)
    assert freeze_job_graph(layout, "org/app", "main", "post").jobs["publish-docs"].post_review
    with pytest.raises(ConfigError, match="pre-review pipeline 'check'"):
        freeze_job_graph(layout, "org/app", "main", "check")


def test_list_attributes_accumulate_and_scalars_come_from_the_nearest() -> None:
    central = """
- semaphore:
    name: db
- job:
    name: parent-job
    run: r.yaml
    tags: [python]
    provides: [wheel]
    semaphores: [db]
    roles: [{zuul: org/roles}]
    workspace-scheme: golang
    override-checkout: stable/1
    required-projects:
      - name: org/lib
        override-checkout: stable/2
- job:
    name: child-job
    parent: parent-job
    tags: [docs, python]
    requires: [wheel]
    roles: [{zuul: org/more-roles, name: extra}]
    deduplicate: false
    match-on-config-updates: false
    override-checkout: stable/3
"""
    layout = build(stanza("check", "child-job"), central=central)
    job = freeze_job_graph(layout, "org/app", "main", "check").jobs["child-job"]
    assert job.tags == ("python", "docs")
    assert (job.provides, job.requires, job.semaphores) == (("wheel",), ("wheel",), ("db",))
    # the child's roles first, then the parent's, then the base job's (its project's,
    # implicitly)
    assert job.roles == (RoleRef("org/more-roles", "extra"), RoleRef("org/roles", "roles"),
                         RoleRef("config", "config", implicit=True))
    assert job.workspace_scheme == "golang" and job.deduplicate is False
    assert job.match_on_config_updates is False
    assert job.override_checkout == "stable/3"
    assert job.project_checkouts == {"org/lib": "stable/2"}
    assert "org/lib" in job.required_projects
    # The frozen job survives the trip through the store unchanged.
    assert type(job).from_dict(job.to_dict()) == job


@pytest.mark.parametrize("attribute, message", [
    ("workspace-scheme: deep", "workspace-scheme must be one of golang, flat, unicode-escaped"),
    ("deduplicate: sometimes", "deduplicate must be true, false or 'auto'"),
    ("post-review: maybe", "'post-review' must be"),
    ("roles: [org/roles]", "each role must be a mapping such as {zuul: org/project}"),
    ("required-projects: [{name: org/lib, override-checkot: x}]",
     "unknown attribute 'override-checkot' in required project"),
])
def test_bad_job_attributes_are_reported(attribute: str, message: str) -> None:
    tenant = TenantConfig("t", [TenantProject("forge", "org/app", False)])
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    layout = loader.build({"org/app": ("main", {".zuul.yaml": (
        f"- job:\n    name: j\n    run: r.yaml\n    {attribute}\n")})})
    assert len(layout.errors) == 1 and message in str(layout.errors[0]), layout.errors


ALTERNATIVES = """
- nodeset:
    name: small
    nodes: [{name: node, label: small-vm}]
- nodeset:
    name: fallback
    alternatives:
      - small
- job:
    name: flexible
    run: r.yaml
    nodeset: fallback
"""


def test_a_single_nodeset_alternative_is_requested() -> None:
    layout = build(stanza("check", "flexible"), central=ALTERNATIVES)
    job = freeze_job_graph(layout, "org/app", "main", "check").jobs["flexible"]
    assert [n.label for n in job.nodeset.nodes] == ["small-vm"]
    assert [[n.label for n in alt.nodes] for alt in job.nodeset.alternatives] == [["small-vm"]]
    assert type(job).from_dict(job.to_dict()) == job


def test_a_nodeset_may_list_several_alternatives() -> None:
    # The launcher tries them in order (tests/unit/nodepool_launcher).
    tenant = TenantConfig("t", [TenantProject("forge", "org/app", False)])
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    layout = loader.build({"org/app": ("main", {".zuul.yaml": (
        "- nodeset:\n    name: small\n    nodes: [{name: node, label: small-vm}]\n"
        "- nodeset:\n    name: x\n    alternatives:\n      - small\n"
        "      - nodes: [{name: node, label: big-vm}]\n")})})
    assert layout.errors == []
    assert len(layout.nodesets["x"].alternatives) == 2


@pytest.mark.parametrize("nodeset, message", [
    ("{name: x, nodes: [{name: n, label: l}], alternatives: [small]}",
     "either 'alternatives' or 'nodes'"),
    ("{name: x, alternatives: []}", "at least one nodeset"),
    ("{name: x, alternatives: [{alternatives: [small]}]}", "alternatives do not nest"),
])
def test_bad_alternatives_are_reported(nodeset: str, message: str) -> None:
    tenant = TenantConfig("t", [TenantProject("forge", "org/app", False)])
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    layout = loader.build({"org/app": ("main", {".zuul.yaml": f"- nodeset: {nodeset}\n"})})
    assert len(layout.errors) == 1 and message in str(layout.errors[0]), layout.errors


def test_an_unknown_or_nested_alternative_fails_the_job() -> None:
    central = ALTERNATIVES + ("- nodeset:\n    name: nested\n    alternatives: [fallback]\n"
                              "- nodeset:\n    name: typo\n    alternatives: [smal]\n"
                              "- job:\n    name: j1\n    run: r.yaml\n    nodeset: nested\n"
                              "- job:\n    name: j2\n    run: r.yaml\n    nodeset: typo\n")
    for job, message in (("j1", "do not nest"), ("j2", "unknown nodeset 'smal'")):
        layout = build(stanza("check", job), central=central)
        with pytest.raises(ConfigError, match=message):
            freeze_job_graph(layout, "org/app", "main", "check")


def test_a_secret_passed_to_the_parent_reaches_the_parents_playbooks_only_then() -> None:
    central = SECRET + """
- job:
    name: uploader
    pre-run: upload-pre.yaml
    post-run: upload-post.yaml
- job:
    name: publish
    parent: uploader
    run: publish.yaml
    secrets:
      - name: creds
        secret: creds
        pass-to-parent: true
- job:
    name: private
    parent: uploader
    run: private.yaml
    secrets: [creds]
"""
    layout = build(stanza("check", "publish", "private"), central=central)
    jobs = freeze_job_graph(layout, "org/app", "main", "check").jobs
    books = {job: {b.path: b.secrets for b in (*jobs[job].pre_run, *jobs[job].run,
                                                  *jobs[job].post_run) if "upload" in b.path
                   or b.path.startswith(job)}
             for job in ("publish", "private")}
    assert books["publish"] == {"upload-pre.yaml": ("creds",), "publish.yaml": ("creds",),
                                "upload-post.yaml": ("creds",)}
    assert books["private"] == {"upload-pre.yaml": (), "private.yaml": ("creds",),
                                "upload-post.yaml": ()}
    assert type(jobs["publish"]).from_dict(jobs["publish"].to_dict()) == jobs["publish"]


def test_pass_to_parent_must_be_true_or_false() -> None:
    tenant = TenantConfig("t", [TenantProject("forge", "org/app", False)])
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    layout = loader.build({"org/app": ("main", {".zuul.yaml": (
        SECRET + "- job:\n    name: j\n    secrets:\n      - name: creds\n"
                 "        pass-to-parent: maybe\n")})})
    [error] = layout.errors
    assert "'pass-to-parent' must be true or false" in error.message and error.line == 8
