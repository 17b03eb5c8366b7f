"""A tenant's limits on what its configuration may use: labels and reporters."""

from __future__ import annotations

from tests.unit.test_config_loader import JOBS, PIPELINES, _trigger
from zuulish.config.layout import Layout
from zuulish.config.loader import ConfigLoader
from zuulish.config.tenant import TenantConfig, TenantProject


def limited_tenant(**limits: object) -> Layout:
    tenant = TenantConfig("t", [TenantProject("forge", "config", True),
                                TenantProject("forge", "org/app", False)], **limits)
    loader = ConfigLoader(tenant, {"forge": "git"}, {"git": _trigger})
    app = ("- nodeset:\n    name: gpu\n    nodes: [{name: n, label: gpu-large}]\n"
           "- job:\n    name: inline\n    run: r.yaml\n"
           "    nodeset: {nodes: [{name: n, label: bare-metal}]}\n")
    return loader.build({"config": ("main", {"zuul.d/pipelines.yaml": PIPELINES,
                                             "zuul.d/jobs.yaml": JOBS}),
                         "org/app": ("main", {".zuul.yaml": app})})


def test_labels_outside_allowed_labels_are_errors_on_the_nodeset() -> None:
    layout = limited_tenant(allowed_labels=("local", "gpu-.*"))
    [error] = layout.errors
    assert "label 'bare-metal' is not allowed in tenant 't'" in str(error)
    assert (error.file, error.line) == ("org/app/.zuul.yaml", 5)  # the job stanza
    assert "gpu" in layout.nodesets and "inline" not in layout.jobs


def test_disallowed_labels_are_errors() -> None:
    layout = limited_tenant(disallowed_labels=("gpu-.*",))
    assert [str(e).split(": ", 1)[1] for e in layout.errors] == [
        "nodeset 'gpu': label 'gpu-large' is disallowed in tenant 't'"]


def test_pipelines_may_report_only_to_allowed_reporters() -> None:
    layout = limited_tenant(allowed_reporters=())
    assert sorted(str(e).split(": ", 1)[1] for e in layout.errors) == [
        "pipeline 'check': tenant 't' may not report to connection 'forge' "
        "(allowed-reporters: none)",
        "pipeline 'gate': tenant 't' may not report to connection 'forge' "
        "(allowed-reporters: none)"]
    assert limited_tenant(allowed_reporters=("forge",)).errors == []
