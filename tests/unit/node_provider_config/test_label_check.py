"""A nodeset or job asking for a label that no provider offers (neither the
tenant's providers nor zuulish.yaml's local/static ones) is an error at its file
and line, when the loader knows zuulish.yaml; GPU nodes are checked for shape."""

from __future__ import annotations

import pytest

from .conftest import Build, line_of
from .test_errors import BASE


def test_labels_of_the_tenant_s_providers_and_of_zuulish_yaml_are_offered(
        build: Build) -> None:
    text = BASE + """
- nodeset: {name: cloud, nodes: [{name: a, label: debian-small}]}
- nodeset: {name: here, nodes: [{name: a, label: local}]}
- job: {name: j, parent: null, nodeset: {nodes: [{name: b, label: debian-small}]}}
"""
    layout = build(text)
    assert layout.errors == []
    assert set(layout.nodesets) == {"cloud", "here"} and "j" in layout.jobs


@pytest.mark.parametrize("text, at, message", [
    ("- nodeset:\n    name: n\n    nodes: [{name: a, label: debian-smal}]\n", "name: n",
     "nodeset 'n': no provider offers label 'debian-smal' (neither the nodepool providers "
     "of zuulish.yaml nor this tenant's 'provider' objects; offered: debian-small, local); "
     "did you mean 'debian-small'?"),
    ("- job:\n    name: j\n    parent: null\n    nodeset:\n      nodes:\n"
     "        - {name: a, label: ubuntu}\n", "name: j",
     "job 'j': no provider offers label 'ubuntu'"),
    ("- nodeset:\n    name: n\n    alternatives:\n      - nodes: [{name: a, label: gpu}]\n",
     "name: n", "nodeset 'n': no provider offers label 'gpu'"),
])
def test_a_label_no_provider_offers_is_an_error(build: Build, text: str, at: str,
                                                message: str) -> None:
    layout = build(BASE + text)
    [error] = layout.errors
    assert message in error.message, error
    assert (error.file, error.line) == ("config/zuul.yaml", line_of(BASE + text, at))


def test_an_untrusted_project_s_nodeset_is_checked_too(build: Build) -> None:
    layout = build(BASE, app="- nodeset:\n    name: mine\n    nodes:\n"
                              "      - {name: a, label: nope}\n")
    [error] = layout.errors
    assert (error.file, error.line) == ("org/app/.zuul.yaml", 2)
    assert "no provider offers label 'nope'" in error.message
    assert "mine" not in layout.nodesets


def test_a_label_of_a_broken_provider_is_not_reported_again(build: Build) -> None:
    text = BASE.replace("region: r1", "regoin: r1") + \
        "- nodeset: {name: n, nodes: [{name: a, label: debian-small}]}\n"
    layout = build(text)
    [error] = layout.errors
    assert "unknown attribute 'regoin'" in error.message
    assert "n" in layout.nodesets


def test_without_zuulish_yaml_labels_are_not_checked(build: Build) -> None:
    """``zuulish validate`` and loaders built without the server's configuration."""
    layout = build("- nodeset: {name: n, nodes: [{name: a, label: anything}]}\n", nodes=None)
    assert layout.errors == [] and "n" in layout.nodesets


def test_gpu_only_nodes_need_no_label(build: Build) -> None:
    layout = build("- nodeset: {name: n, nodes: [{name: t, gpus: 1}]}\n")
    assert layout.errors == []
    [node] = layout.nodesets["n"].nodes
    assert (node.label, node.gpus, node.gpu_model) == (None, 1, None)


@pytest.mark.parametrize("node, message", [
    ("{name: t}", "each node needs a 'name' and a 'label' (or, in zuulish, 'gpus')"),
    ("{name: t, gpus: 0}", "node 't': 'gpus' must be a positive whole number, not 0"),
    ("{name: t, gpus: two}", "'gpus' must be a positive whole number, not 'two'"),
    ("{name: t, gpus: true}", "'gpus' must be a positive whole number, not True"),
    ("{name: t, label: local, gpu-model: A100}", "'gpu-model' needs 'gpus'"),
    ("{name: t, gpus: 1, gpu-model: [A100]}", "'gpu-model' must be a GPU model's name"),
    ("{name: t, gpus: 1, gpu_model: A100}", "did you mean 'gpu-model'?"),
])
def test_gpu_nodes_are_checked(build: Build, node: str, message: str) -> None:
    text = f"- nodeset:\n    name: n\n    nodes:\n      - {node}\n"
    [error] = build(text).errors
    assert message in error.message, error
    assert error.file == "config/zuul.yaml" and error.line in (2, 4)
