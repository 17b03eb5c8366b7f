"""Zuul 14's provider, section, label, flavor and image objects resolved into
ProviderSpecs: inheritance, merging by name, defaults, abstract sections."""

from __future__ import annotations

from zuulish.nodepool.cloud import LabelSpec

from .conftest import Build, line_of

OBJECTS = """
- image: {name: debian, type: cloud}
- image: {name: fedora, description: Fedora}
- flavor: {name: small}
- flavor: {name: big}
- label:
    name: debian-small
    image: debian
    flavor: small
    min-ready: 1
    tags: {team: ci}
- label: {name: fedora-big, image: fedora, flavor: big, max-ready-age: 600}
"""

CHAIN = OBJECTS + """
- section:
    name: cloud-base
    abstract: true
    connection: cloud
    launch-timeout: 300
    boot-timeout: 60
    zone: a
    image-defaults: {username: zuul, python-path: /usr/bin/python3}
    label-defaults: {key-name: ci-key}
    images:
      - {name: debian, image-id: deb-1}
      - {name: fedora, image-id: fed-1, username: fedora}
    flavors:
      - {name: small, flavor-name: m1.small}
- section:
    name: region-a
    parent: cloud-base
    region: region-a
    zone: b
    flavors:
      - {name: small, volume-size: 20}
      - {name: big, flavor-name: m1.big}
    labels: [debian-small]
- provider:
    name: region-a-main
    section: region-a
    launch-attempts: 5
    resource-limits: {instances: 10, cores: 40}
    images:
      - {name: debian, image-id: deb-2}
    labels:
      - fedora-big
      - {name: debian-small, userdata: "#cloud-config", min-ready: 2}
"""


def test_a_provider_is_resolved_down_its_chain_of_sections(build: Build) -> None:
    layout = build(CHAIN)
    assert layout.errors == []
    [spec] = layout.node_providers
    assert (spec.name, spec.driver) == ("region-a-main", "fake")
    assert spec.connection == {"endpoint": "https://c"}
    # plain attributes: the lower level wins; structure keys are not attributes
    assert spec.attributes == {"launch-timeout": 300, "boot-timeout": 60, "zone": "b",
                               "region": "region-a", "launch-attempts": 5,
                               "resource-limits": {"instances": 10, "cores": 40}}
    assert (spec.source_file, spec.source_line) == ("config/zuul.yaml",
                                                line_of(CHAIN, "name: region-a-main"))


def test_entries_are_merged_by_name_and_take_the_defaults(build: Build) -> None:
    [spec] = build(CHAIN).node_providers
    assert set(spec.labels) == {"debian-small", "fedora-big"}
    small = spec.labels["debian-small"]
    # the label object, then the provider's entry over it (and the label-defaults below)
    assert small == LabelSpec(
        "debian-small",
        {"key-name": "ci-key", "min-ready": 2, "tags": {"team": "ci"},
         "userdata": "#cloud-config"},
        # image-defaults < the image object < the section's entry < the provider's
        {"name": "debian", "type": "cloud", "username": "zuul",
         "python-path": "/usr/bin/python3", "image-id": "deb-2"},
        # merged by name: the parent's flavor-name and the child's volume-size
        {"name": "small", "flavor-name": "m1.small", "volume-size": 20},
        min_ready=2)
    big = spec.labels["fedora-big"]
    assert big.attributes == {"key-name": "ci-key", "max-ready-age": 600}
    assert big.image == {"name": "fedora", "image-id": "fed-1", "username": "fedora",
                         "python-path": "/usr/bin/python3"}
    assert big.flavor == {"name": "big", "flavor-name": "m1.big"}
    assert big.min_ready == 0


def test_final_entries_take_no_defaults_and_final_true_is_not_redefined(
        build: Build) -> None:
    text = OBJECTS + """
- section:
    name: s
    connection: cloud
    image-defaults: {username: zuul}
    images:
      - {name: debian, image-id: d, final: allow-override}
      - {name: fedora, image-id: f, final: true}
    flavors: [small, big]
- provider:
    name: p
    section: s
    images:
      - {name: debian, image-id: d2}
    labels: [debian-small, fedora-big]
"""
    [spec] = build(text).node_providers
    assert spec.labels["debian-small"].image == {"name": "debian", "type": "cloud",
                                                 "image-id": "d2"}
    assert spec.labels["fedora-big"].image == {"name": "fedora", "image-id": "f"}
    text = text.replace("{name: debian, image-id: d2}", "{name: fedora, image-id: x}")
    layout = build(text)
    [error] = layout.errors
    assert (error.file, error.line) == ("config/zuul.yaml", line_of(text, "image-id: x"))
    assert "image 'fedora' is final in section 's'" in error.message
    assert layout.node_providers == []


def test_several_providers_share_a_section_and_tenants_see_their_own(build: Build) -> None:
    text = CHAIN + """
- provider:
    name: region-a-small
    section: region-a
"""
    layout = build(text)
    assert [p.name for p in layout.node_providers] == ["region-a-main", "region-a-small"]
    assert set(layout.node_providers[1].labels) == {"debian-small"}  # the section's


def test_a_provider_may_not_hang_from_an_abstract_section(build: Build) -> None:
    text = CHAIN.replace("section: region-a\n", "section: cloud-base\n")
    layout = build(text)
    [error] = layout.errors
    assert (error.file, error.line) == ("config/zuul.yaml", line_of(text, "section: cloud-base"))
    assert "section 'cloud-base' is abstract" in error.message
    assert layout.node_providers == []


def test_without_zuulish_yaml_the_chain_is_checked_but_nothing_is_built(
        build: Build) -> None:
    """``zuulish validate``: no connections known, so no driver keys either."""
    layout = build(CHAIN.replace("zone: a", "zoen: a"), nodes=None)
    assert layout.errors == [] and layout.node_providers == []
    layout = build(CHAIN.replace("parent: cloud-base", "parent: cloud-bsae"), nodes=None)
    [error] = layout.errors
    assert error.line == line_of(CHAIN, "parent: cloud-base")
    assert "parent section 'cloud-bsae' is not defined" in error.message


def test_gpu_nodes_and_labels_in_nodesets(build: Build) -> None:
    layout = build(CHAIN + """
- nodeset:
    name: training
    nodes:
      - {name: trainer, gpus: 2, gpu-model: A100}
      - {name: helper, label: debian-small}
      - {name: [w1, w2], label: fedora-big, gpus: 1}
""")
    assert layout.errors == []
    nodes = layout.nodesets["training"].nodes
    assert [(n.name, n.label, n.gpus, n.gpu_model) for n in nodes] == [
        ("trainer", None, 2, "A100"), ("helper", "debian-small", 0, None),
        ("w1", "fedora-big", 1, None), ("w2", "fedora-big", 1, None)]
    frozen = layout.nodesets["training"].to_dict()
    assert frozen["nodes"][0] == {"name": "trainer", "label": None, "gpus": 2,
                                  "gpu-model": "A100"}
    assert frozen["nodes"][1] == {"name": "helper", "label": "debian-small"}
    from zuulish.model import NodeSet
    assert NodeSet.from_dict(frozen) == layout.nodesets["training"]


def test_resolved_providers_are_plain_data(build: Build) -> None:
    """Layouts are pickled to the web process: the specs hold plain dicts."""
    import pickle

    [spec] = build(CHAIN).node_providers
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert type(spec.labels["debian-small"].attributes["tags"]) is dict
    assert type(spec.attributes["resource-limits"]) is dict
