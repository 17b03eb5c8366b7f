"""Attacks on the node pools through configuration an untrusted change controls.

A provider spends the operator's cloud credentials and quota: an untrusted
project may not define one (or a section), and may not redefine a label that a
config project's provider boots (to raise its ``min-ready``, say, and keep the
cloud busy with warm nodes). The nodes' own inputs (cloud tags of another
installation) are in tests/unit/nodepool_launcher (the leak sweep).
"""

from __future__ import annotations

import pytest

from tests.unit.node_provider_config.conftest import Build, fake_driver  # noqa: F401
from tests.unit.node_provider_config.conftest import build as build  # noqa: F401, PLC0414

CONFIG = """
- image: {name: debian}
- flavor: {name: small}
- label: {name: debian-small, image: debian, flavor: small}
- section:
    name: root
    connection: cloud
    images: [debian]
    flavors: [small]
- provider:
    name: p
    section: root
    labels: [debian-small]
"""


@pytest.mark.parametrize("attack", [
    "- section:\n    name: mine\n    connection: cloud\n",
    "- provider:\n    name: mine\n    section: root\n    labels: [debian-small]\n",
])
def test_an_untrusted_project_cannot_spend_the_operators_cloud(build: Build,  # noqa: F811
                                                               attack: str) -> None:
    layout = build(CONFIG, app=attack)
    [error] = layout.errors
    assert (error.file, error.line) == ("org/app/.zuul.yaml", 2)  # the object's body
    assert "may only be defined in config projects" in error.message
    assert [p.name for p in layout.node_providers] == ["p"]


def test_an_untrusted_project_cannot_redefine_a_booted_label(build: Build) -> None:  # noqa: F811
    attack = "- label: {name: debian-small, image: debian, flavor: small, min-ready: 500}\n"
    layout = build(CONFIG, app=attack)
    assert layout.errors, "a second definition of the label must be refused"
    [spec] = layout.node_providers
    assert spec.labels["debian-small"].min_ready == 0
