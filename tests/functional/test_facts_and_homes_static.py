"""Facts and the node's home on a static node (sshd in a network namespace of
its own): the same playbooks as ``test_facts_and_homes``, whose facts are
gathered by the setup run over SSH; the home is the SSH user's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.ssh_node import SshNodes, make_nodes, missing_requirements, static_node_marks
from tests.fakes.tenant import GateTenant
from tests.functional.test_facts_and_homes import CONFIG, app, builds, check_build
from zuulish.executor.sandbox import unavailable

WHY_NOT = missing_requirements() or unavailable()
pytestmark = [*static_node_marks(WHY_NOT), pytest.mark.store]


@pytest.fixture
def static_nodes(tmp_path: Path) -> Iterator[SshNodes]:
    nodes = make_nodes(WHY_NOT, tmp_path / "nodes", 1, [tmp_path / "state"])
    yield nodes
    nodes.close()


def test_facts_and_a_home_for_the_whole_build_on_a_static_node(
        tmp_path: Path, database_url: str, static_nodes: SshNodes) -> None:
    """The same playbooks on a static node (sshd in a namespace of its own): the
    facts are gathered by the setup run over SSH, the home is the SSH user's."""
    tenant = GateTenant(
        tmp_path, database_url,
        {"org/app": app({"nodes": [{"name": "box", "label": "static"}]})},
        config_files=CONFIG,
        providers=[{"name": "local", "driver": "local"},
                   static_nodes.provider_config(labels=["static"])],
        private_key=static_nodes.key).start()
    try:
        number = tenant.push("org/app", {"a.txt": "a\n"})
        report = tenant.wait_reported(number, "check", timeout=240)
        [build] = builds(tenant)
        assert report.result == "SUCCESS", (build.result, build.message)
        text = check_build(tenant, build)
        assert "SETUP (trusted) gathering the facts of box" in text
    finally:
        tenant.stop()
    node = static_nodes.nodes[0]
    assert (node.home / "zuul-output" / "logs" / "x").read_text() == "left by pre-run\n"
    # the SSH user's home, where the base job pushed src/ (the node binds the
    # test's directory over it)
    assert f"UNTRUSTED-PRE HOME={Path.home()}" in text, text
