"""Freezing real public jobs from ../shared/corpus: OpenStack's devstack chain, with
the two zuul-jobs ancestors it names (base, multinode) stubbed in, and OpenDev
bindep's whole check pipeline over stubs of the zuul-jobs it uses. Expected
values are read off the YAML by hand, attribute by attribute."""

from __future__ import annotations

import pytest

from tests.corpus import ZUUL_CONFIGS
from zuulish.config.freeze import freeze_job, freeze_job_graph
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.config.validate import ANY_DRIVER, AnyConnection, generic_trigger
from zuulish.model.project import JobReference

CORPUS = ZUUL_CONFIGS
DEVSTACK = CORPUS / "openstack__devstack__.zuul.yaml"

pytestmark = pytest.mark.skipif(not DEVSTACK.exists(),
                                reason="../shared/corpus is not beside this checkout")

ZUUL_JOBS = """
- job:
    name: base
    parent: null
    timeout: 1800
    pre-run: playbooks/base/pre.yaml
    post-run: playbooks/base/post.yaml
- job:
    name: multinode
    pre-run: playbooks/multinode/pre.yaml
"""


def load(tenant: str, trusted: tuple[str, str], untrusted: tuple[str, str]):
    """A layout of one trusted and one untrusted project: (name, one file's text) each."""
    config = TenantConfig(tenant, [TenantProject("", trusted[0], True),
                                   TenantProject("", untrusted[0], False)])
    loader = ConfigLoader(config, AnyConnection(), {ANY_DRIVER: generic_trigger},
                          open_pipelines=True)
    layout = loader.build({trusted[0]: ("master", {"zuul.yaml": trusted[1]}),
                           untrusted[0]: ("master", {".zuul.yaml": untrusted[1]})})
    assert layout.errors == []
    return layout


@pytest.fixture(scope="module")
def devstack():
    layout = load("openstack", ("zuul-jobs", ZUUL_JOBS),
                  ("openstack/devstack", DEVSTACK.read_text()))
    return freeze_job(layout, JobReference("devstack"), "openstack/nova", "master")


def test_inheritance_path(devstack) -> None:
    assert devstack.inheritance_path == ("base", "multinode", "devstack-base",
                                         "devstack-minimal", "devstack")


def test_scalars_come_from_the_nearest_job_that_sets_them(devstack) -> None:
    assert devstack.timeout == 7200  # devstack overrides base's 1800
    assert devstack.nodeset.name == "openstack-single-node-focal"  # from devstack-minimal
    assert devstack.voting is True


def test_playbooks_accumulate_in_zuuls_order(devstack) -> None:
    # pre-run: ancestors first; post-run: descendants first; run: the nearest one.
    assert [p.path for p in devstack.pre_run] == [
        "playbooks/base/pre.yaml", "playbooks/multinode/pre.yaml", "playbooks/pre.yaml"]
    assert [p.path for p in devstack.run] == ["playbooks/devstack.yaml"]
    assert [p.path for p in devstack.post_run] == ["playbooks/post.yaml",
                                                   "playbooks/base/post.yaml"]
    assert devstack.pre_run[0].project == "zuul-jobs" and devstack.pre_run[0].trusted
    assert devstack.run[0].project == "openstack/devstack" and not devstack.run[0].trusted


def test_required_projects_accumulate_parents_first(devstack) -> None:
    projects = devstack.required_projects
    assert projects[:3] == ("opendev.org/openstack/devstack",
                            "opendev.org/openstack/requirements",
                            "opendev.org/openstack/cinder")
    assert "opendev.org/openstack/nova" in projects


def test_vars_merge_deeply_across_the_chain(devstack) -> None:
    localrc = devstack.vars["devstack_localrc"]
    assert localrc["DATABASE_PASSWORD"] == "secretdatabase"  # devstack-base
    assert localrc["PUBLIC_BRIDGE_MTU"] == "{{ external_bridge_mtu }}"  # devstack-minimal
    assert devstack.vars["devstack_services"]["etcd3"] is True  # devstack-minimal
    subnode = devstack.group_vars["subnode"]["devstack_localrc"]
    assert subnode["DATABASE_TYPE"] == "mysql"  # group-vars from devstack-minimal


def test_file_matchers_are_inherited(devstack) -> None:
    assert devstack.irrelevant_files[:2] == ("^.*\\.rst$", "^api-ref/.*$")
    assert not devstack.runs_for(["doc/source/index.rst"])
    assert devstack.runs_for(["stack.sh"])


# The zuul-jobs (and opendev) jobs, nodesets and template bindep's project uses.
BINDEP_BASES = """
- nodeset: {name: ubuntu-noble, nodes: [{name: noble, label: ubuntu-noble}]}
- nodeset: {name: ubuntu-focal, nodes: [{name: focal, label: ubuntu-focal}]}
- nodeset: {name: centos-9-stream, nodes: [{name: c9s, label: centos-9-stream}]}
- job:
    name: base
    parent: null
    timeout: 1800
    nodeset: ubuntu-noble
    pre-run: playbooks/base/pre.yaml
    post-run: playbooks/base/post.yaml
- job: {name: nox, run: playbooks/nox/run.yaml, vars: {nox_session: tests}}
- job: {name: nox-py38, parent: nox, nodeset: ubuntu-focal, vars: {nox_session: tests-3.8}}
- job: {name: nox-py312, parent: nox, vars: {nox_session: tests-3.12}}
- job: {name: nox-linters, parent: nox, vars: {nox_session: linters}}
- job: {name: nox-cover, parent: nox, vars: {nox_session: cover}, voting: false}
- job: {name: build-python-release, run: playbooks/release/build.yaml}
- job: {name: opendev-nox-docs, parent: nox, vars: {nox_session: docs}}
- project-template:
    name: publish-opendev-nox-docs
    check: {jobs: [opendev-nox-docs]}
    gate: {jobs: [opendev-nox-docs]}
"""
BINDEP = CORPUS / "opendev__bindep__.zuul.yaml"


@pytest.fixture(scope="module")
def bindep_check():
    layout = load("opendev", ("opendev/base-jobs", BINDEP_BASES),
                  ("opendev/bindep", BINDEP.read_text()))
    return freeze_job_graph(layout, "opendev/bindep", "master", "check").jobs


def test_a_projects_check_pipeline_freezes_every_listed_and_template_job(bindep_check) -> None:
    assert sorted(bindep_check) == [
        "bindep-centos-9-stream", "bindep-ubuntu-noble", "build-python-release", "nox-cover",
        "nox-linters", "nox-py312", "nox-py38", "opendev-nox-docs"]


def test_an_abstract_parent_gives_its_children_run_and_vars(bindep_check) -> None:
    noble = bindep_check["bindep-ubuntu-noble"]
    assert noble.inheritance_path == ("base", "bindep-base", "bindep-ubuntu-noble")
    assert [(p.project, p.path) for p in noble.run] == [
        ("opendev/bindep", "playbooks/bindep/run.yaml")]
    assert noble.nodeset.name == "ubuntu-noble"
    assert noble.vars["zuul_work_dir"] == "{{ zuul.project.src_dir }}"
    assert noble.timeout == 1800
    assert bindep_check["bindep-centos-9-stream"].nodeset.name == "centos-9-stream"


def test_project_vars_reach_every_job_below_the_jobs_own(bindep_check) -> None:
    assert {job.vars.get("release_python") for job in bindep_check.values()} == {"python3"}
    assert bindep_check["nox-linters"].vars["nox_session"] == "linters"


def test_project_pipeline_variants_override_the_job(bindep_check) -> None:
    # nox-py312: {nodeset: ubuntu-noble} in the project stanza; nox-py38 sets focal itself.
    assert bindep_check["nox-py312"].nodeset.name == "ubuntu-noble"
    assert bindep_check["nox-py38"].nodeset.name == "ubuntu-focal"
    assert bindep_check["nox-cover"].voting is False
    assert bindep_check["opendev-nox-docs"].vars["nox_session"] == "docs"
