"""Each mistake in the node objects is an error at its file and line, naming the
nearest valid name on a typo; the broken provider is left out, the rest loads."""

from __future__ import annotations

import pytest

from .conftest import Build, line_of

BASE = """
- image: {name: debian}
- flavor: {name: small}
- label: {name: debian-small, image: debian, flavor: small}
- section:
    name: root
    connection: cloud
    images: [debian]
    flavors: [small]
- section:
    name: region
    parent: root
    region: r1
- provider:
    name: p
    section: region
    labels: [debian-small]
"""


@pytest.mark.parametrize("old, new, at, message", [
    # the section chain
    ("parent: root", "parent: rot", "parent: rot",
     "section 'region': parent section 'rot' is not defined; did you mean 'root'?"),
    ("section: region\n", "section: regoin\n", "section: regoin",
     "provider 'p': section 'regoin' is not defined; did you mean 'region'?"),
    ("    connection: cloud\n", "    parent: region\n    connection: cloud\n",
     "parent: region",
     "section 'root': sections inherit from each other in a cycle ('root' -> 'region' -> "
     "'root')"),
    # the connection
    ("    connection: cloud\n", "", ("section: region", "name: p"),
     "provider 'p': none of its sections ('root' -> 'region') names a 'connection'"),
    ("connection: cloud", "connection: clud", "connection: clud",
     "section 'root': connection 'clud' is not a node provider connection of zuulish.yaml"),
    ("    region: r1\n", "    region: r1\n    connection: other\n", "connection: other",
     "section 'region': 'connection' is set by section 'root' above it and may not be set "
     "again down a chain of sections"),
    ("    labels: [debian-small]\n", "    labels: [debian-small]\n    connection: cloud\n",
     ("connection: cloud", "name: p"),
     "provider 'p': 'connection' is an attribute of sections only"),
    ("    labels: [debian-small]\n", "    labels: [debian-small]\n    flavors: [small]\n",
     ("flavors: [small]", "name: p"),
     "provider 'p': 'flavors' is an attribute of sections only"),
    ("    region: r1\n", "    region: r1\n    section: root\n", "section: root",
     "section 'region': 'section' is an attribute of providers only"),
    # what is not defined
    ("labels: [debian-small]", "labels: [debian-smal]", "labels: [debian-smal]",
     "provider 'p': label 'debian-smal' of its 'labels' is not defined (no label object of "
     "that name in this tenant); did you mean 'debian-small'?"),
    ("images: [debian]", "images: [debain]", "images: [debain]",
     "section 'root': image 'debain' of its 'images' is not defined"),
    ("flavors: [small]", "flavors: [smal]", "flavors: [smal]",
     "section 'root': flavor 'smal' of its 'flavors' is not defined"),
    ("image: debian, flavor", "image: debain, flavor", "image: debain",
     "label 'debian-small': image 'debain' is not defined (no image object of that name in "
     "this tenant); did you mean 'debian'?"),
    ("flavor: small}", "flavor: big}", "flavor: big",
     "label 'debian-small': flavor 'big' is not defined"),
    ("    flavors: [small]\n", "", "labels: [debian-small]",
     "provider 'p': label 'debian-small' uses flavor 'small', which its sections and it "
     "('root' -> 'region' -> 'p') do not list under 'flavors'"),
    # keys the driver does not take
    ("region: r1", "regoin: r1", "regoin: r1",
     "section 'region': unknown attribute 'regoin' for the fake driver; did you mean "
     "'region'?"),
    ("labels: [debian-small]", "labels: [{name: debian-small, key-nmae: k}]", "key-nmae",
     "provider 'p': unknown attribute 'key-nmae' in label 'debian-small' of 'labels' for the "
     "fake driver; did you mean 'key-name'?"),
    ("images: [debian]", "images: [{name: debian, image-idd: x}]", "image-idd",
     "unknown attribute 'image-idd' in image 'debian' of 'images' for the fake driver; "
     "did you mean 'image-id'?"),
    ("flavors: [small]", "flavors: [{name: small, flavor: m1}]", "flavor: m1",
     "unknown attribute 'flavor' in flavor 'small' of 'flavors' for the fake driver"),
    ("region: r1", "region: r1\n    image-defaults: {usernme: z}", "usernme",
     "unknown attribute 'usernme' in 'image-defaults' for the fake driver; did you mean "
     "'username'?"),
    # the common attributes' values
    ("region: r1", "region: r1\n    launch-timeout: -1", "launch-timeout",
     "'launch-timeout' must be a positive number of seconds"),
    ("region: r1", "region: r1\n    launch-attempts: 0", "launch-attempts",
     "'launch-attempts' must be a whole number, 1 or more"),
    ("region: r1", "region: r1\n    resource-limits: {instances: 2, volumes: 3}", "volumes",
     "unknown resource limit 'volumes'"),
    ("region: r1", "region: r1\n    resource-limits:\n      cores: many", "cores: many",
     "resource limit 'cores' must be a whole number"),
    ("images: [debian]", "images: [{name: debian, final: always}]", "final: always",
     "'debian': 'final' must be true, false or allow-override"),
    ("labels: [debian-small]", "labels: [{name: debian-small, min-ready: some}]",
     "min-ready: some", "'debian-small': 'min-ready' must be a whole number, 0 or more"),
    ("region: r1", "region: r1\n    label-defaults: {tags: [a]}", "label-defaults",
     "'tags' must be a mapping"),
])
def test_each_mistake_is_reported_at_its_line(build: Build, old: str, new: str,
                                              at: str | tuple[str, str], message: str) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    layout = build(text)
    assert layout.node_providers == []
    [error] = layout.errors
    assert message in error.message, error
    line = line_of(text, *at) if isinstance(at, tuple) else line_of(text, at)
    assert (error.file, error.line) == ("config/zuul.yaml", line), error


def test_the_good_base_loads(build: Build) -> None:
    layout = build(BASE)
    assert layout.errors == []
    [spec] = layout.node_providers
    assert spec.attributes == {"region": "r1"}


def test_a_broken_provider_leaves_the_others(build: Build) -> None:
    text = BASE + """
- provider:
    name: q
    section: region
    zoen: z
"""
    layout = build(text)
    [error] = layout.errors
    assert error.line == line_of(text, "zoen") and "did you mean 'zone'?" in error.message
    assert [p.name for p in layout.node_providers] == ["p"]
    assert ("provider", "q") in layout.broken


def test_a_shared_section_s_mistake_is_reported_once(build: Build) -> None:
    text = BASE.replace("region: r1", "regoin: r1") + """
- provider:
    name: q
    section: region
"""
    layout = build(text)
    assert [e.line for e in layout.errors] == [line_of(text, "regoin")]
    assert layout.node_providers == []


@pytest.mark.parametrize("text, at, message", [
    ("- label: {name: l, flavor: f}\n", "name: l", "label 'l' needs an 'image'"),
    ("- label: {name: l, image: i, flavor: f, min-ready: -1}\n", "name: l",
     "label 'l': 'min-ready' must be a whole number, 0 or more"),
    ("- label: {name: l, image: i, flavor: f, flavour: g}\n", "name: l",
     "did you mean 'flavor'?"),
    ("- provider: {name: p}\n", "name: p", "provider 'p' needs a 'section'"),
    ("- section:\n    name: s\n    labels: {a: 1}\n", "labels:",
     "section 's': 'labels' must be a list"),
    ("- section:\n    name: s\n    images: [{image-id: x}]\n", "images:",
     "section 's': each of its 'images' must be a name or a mapping with a 'name'"),
])
def test_shapes_are_checked_when_read(build: Build, text: str, at: str, message: str) -> None:
    [error] = build(text).errors
    assert message in error.message, error
    assert error.line == line_of(text, at)


@pytest.mark.parametrize("kind", ["section", "provider"])
def test_untrusted_projects_may_not_define_sections_or_providers(build: Build,
                                                                 kind: str) -> None:
    app = f"- {kind}:\n    name: mine\n    section: region\n" if kind == "provider" \
        else f"- {kind}:\n    name: mine\n    parent: root\n"
    layout = build(BASE, app=app)
    [error] = layout.errors
    assert (error.file, error.line) == ("org/app/.zuul.yaml", 2)
    assert f"{kind} 'mine': {kind}s may only be defined in config projects" in error.message
    assert [p.name for p in layout.node_providers] == ["p"]


def test_untrusted_projects_may_define_labels_images_and_flavors(build: Build) -> None:
    app = """
- image: {name: app-image}
- flavor: {name: app-flavor}
- label: {name: app-label, image: app-image, flavor: app-flavor}
"""
    text = BASE.replace("images: [debian]", "images: [debian, app-image]").replace(
        "flavors: [small]", "flavors: [small, app-flavor]").replace(
        "labels: [debian-small]", "labels: [debian-small, app-label]")
    layout = build(text, app=app)
    assert layout.errors == []
    [spec] = layout.node_providers
    assert spec.labels["app-label"].image == {"name": "app-image"}
