"""Real public pipeline definitions for Gerrit and GitHub connections load with every
trigger, ``require`` and ``reject`` honoured (none refused), and their gates admit
and refuse changes as those teams expect."""

from __future__ import annotations

import pytest

from tests.corpus import ZUUL_CONFIGS
from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject
from zuulish.config.validate import generic_trigger
from zuulish.drivers.registry import trigger_parsers
from zuulish.model import Change, ChangeKey
from zuulish.model.change import Review, Vote
from zuulish.scheduler.enqueue import plan_enqueue

NOW = 1_700_100_000.0
CONNECTIONS = {"gerrit": "gerrit", "github": "github", "github.com": "github",
               "mysql": "sql", "smtp": "smtp", "sqlreporter": "sql", "timer": "timer"}
APP = ("- job:\n    name: unit\n    run: u.yaml\n"
       "- project:\n    check:\n      jobs: [unit]\n    gate:\n      jobs: [unit]\n")


def load(name: str, connection: str) -> Layout:
    path = ZUUL_CONFIGS / name
    if not path.is_file():
        pytest.skip("../shared/corpus is not beside this checkout")
    tenant = TenantConfig("t", [TenantProject(connection, "config", True),
                                TenantProject(connection, "org/app", False)])
    # GitHub's trigger parser is another part's: its entries are read for shape here
    parsers = {**trigger_parsers(), "github": generic_trigger}
    loader = ConfigLoader(tenant, CONNECTIONS, parsers)
    return loader.build({"config": ("main", {"zuul.d/pipelines.yaml": path.read_text()}),
                         "org/app": ("main", {".zuul.yaml": APP})})


def enter(layout: Layout, pipeline: str, change: Change) -> str | None:
    return plan_enqueue(change, layout.pipelines[pipeline], layout, {}, set(), {},
                        now=NOW).rejection


def test_openstack_project_config_loads_without_refusing_anything() -> None:
    layout = load("openstack__project-config__zuul.d__pipelines.yaml", "gerrit")
    assert layout.errors == []
    # of the triggers and requirements, only the deprecated require-approval is
    # remarked upon (and it is honoured)
    assert [w.message for w in layout.warnings if "ignore-dependencies" not in w.message] \
        == ["trigger attribute 'require-approval' is deprecated; write 'require: "
            "{approval: ...}' instead"]
    gate = layout.pipelines["gate"]
    assert [f.types for f in gate.triggers] == [("comment-added",), ("comment-added",)]


def test_openstacks_gate_admits_an_approved_change_verified_by_zuul() -> None:
    layout = load("openstack__project-config__zuul.d__pipelines.yaml", "gerrit")
    votes = (Vote("Verified", 1, "zuul", "zuul@openstack.org", NOW - 600),
             Vote("Code-Review", 2, "core", "core@example.org", NOW - 600),
             Vote("Workflow", 1, "core", "core@example.org", NOW - 60))
    change = Change(ChangeKey("gerrit", 9), "org/app", "main", 3, "c0ffee", votes=votes)
    assert enter(layout, "gate", change) is None
    change.votes = votes[1:]
    assert enter(layout, "gate", change) == (
        "change 9 does not meet the requirements of gate: needs Verified: 1 or 2 by a "
        "user matching 'zuul'")


def test_ansibles_github_pipelines_load_and_gate_on_review_label_and_status() -> None:
    layout = load("ansible__zuul-config__zuul.d__pipelines.yaml", "github.com")
    assert layout.errors == []
    assert not [w for w in layout.warnings if "require" in w.message]
    ready = Change(ChangeKey("github.com", 5), "org/app", "main", 1, "c0ffee",
                   reviews=(Review("core", "approved", NOW - 60, "write"),),
                   labels=("mergeit",),
                   statuses=("softwarefactory-project-zuul[bot]:ansible/check:success",))
    assert enter(layout, "gate", ready) is None
    ready.labels = ()
    assert "needs label 'mergeit'" in enter(layout, "gate", ready)


def test_osisms_github_pipelines_load() -> None:
    layout = load("osism__zuul-config__zuul.d__gh_pipelines.yaml", "github")
    assert layout.errors == []
    assert not [w for w in layout.warnings if "require" in w.message]
