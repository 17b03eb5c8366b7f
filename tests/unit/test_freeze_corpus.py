"""Freezing real public jobs: OpenStack's devstack chain from ../shared/corpus, with
the two zuul-jobs ancestors it names (base, multinode) stubbed in. Expected values
are read off the YAML by hand, attribute by attribute."""

from __future__ import annotations

from pathlib import Path

import pytest

from zuulish.config.freeze import freeze_job
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.config.validate import ANY_DRIVER, AnyConnection, generic_trigger
from zuulish.model.project import JobReference

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "zuul-configs"
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


@pytest.fixture(scope="module")
def devstack():
    tenant = TenantConfig("openstack", [TenantProject("", "zuul-jobs", True),
                                        TenantProject("", "openstack/devstack", False)])
    loader = ConfigLoader(tenant, AnyConnection(), {ANY_DRIVER: generic_trigger},
                          open_pipelines=True)
    layout = loader.build({"zuul-jobs": ("master", {"zuul.yaml": ZUUL_JOBS}),
                           "openstack/devstack": ("master",
                                                  {".zuul.yaml": DEVSTACK.read_text()})})
    assert layout.errors == []
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
