"""Static nodes through the whole system: real sshd hosts in network namespaces.

The launcher hands out a host of the ``static`` provider, the base job's pre-run
pushes the speculative workspace to it over SSH (through the build's ssh-agent,
checking the scanned host key), an untrusted job runs there from the sandbox,
and a host that vanishes mid-run ends its attempt in NODE_FAILURE and the build
runs again on another host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.ssh_node import (
    SshNodes,
    make_nodes,
    missing_requirements,
    static_node_marks,
)
from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow, NodeRow

# the job runs in the default sandbox: bwrap, and pasta for its private network
WHY_NOT = missing_requirements() or unavailable()
pytestmark = [*static_node_marks(WHY_NOT), pytest.mark.store]

ZUUL_YAML = """
- nodeset:
    name: one-static
    nodes: [{name: box, label: static}]
- job:
    name: on-static
    parent: base
    nodeset: one-static
    run: playbooks/run.yaml
- project:
    check:
      jobs: [on-static]
"""

# Untrusted, so it runs in the sandbox and reaches the node through the agent.
RUN = """
- hosts: box
  gather_facts: false
  tasks:
    - name: Look at the workspace on the node
      ansible.builtin.shell:
        cmd: |
          set -e
          echo "node address: $(ip -4 -o addr show scope global | awk '{print $4}')"
          echo "readme: $(cat README)"
          echo "head: $(git rev-parse HEAD) tested: {{ zuul.project.commit }}"
          touch "$HOME/started"
          if [ ! -e "$HOME/fast" ]; then sleep 120; fi
        chdir: "{{ zuul.project.src_dir }}"
"""


@pytest.fixture
def static_nodes(tmp_path: Path) -> Iterator[SshNodes]:
    nodes = make_nodes(WHY_NOT, tmp_path / "nodes", 2, [tmp_path / "state"])
    yield nodes
    nodes.close()


def tenant_for(tmp_path: Path, database_url: str, nodes: SshNodes) -> GateTenant:
    return GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": ZUUL_YAML, "README": "first\n", "playbooks/run.yaml": RUN}},
        providers=[{"name": "local", "driver": "local"},
                   nodes.provider_config(labels=["static"])],
        private_key=nodes.key)


def test_untrusted_job_runs_on_a_static_node_in_the_pushed_workspace(
        tmp_path: Path, database_url: str, static_nodes: SshNodes) -> None:
    for node in static_nodes.nodes:
        (node.home / "fast").touch()
    tenant = tenant_for(tmp_path, database_url, static_nodes).start()
    try:
        number = tenant.push("org/app", {"README": "speculative\n"}, "Change the readme")
        report = tenant.wait_reported(number, "check", timeout=180)
        with tenant.aio.store.read() as s:
            [build] = s.scalars(select(BuildRow)).all()
            [node] = s.scalars(select(NodeRow)).all()
    finally:
        tenant.stop()
    output = (Path(build.log_path or "") / "job-output.txt").read_text()
    assert report.result == "SUCCESS", (build.result, build.message, output[-3000:])
    first = static_nodes.nodes[0]
    assert node.hostname == first.address and node.host_keys == [first.host_key]
    assert f"node address: {first.address}/30" in output
    assert "readme: speculative" in output
    head, tested = output.split("head: ")[1].split("\n")[0].split(" tested: ")
    assert head.strip() == tested.strip()
    # the workspace was pushed to the node's home, at the project's src_dir
    pushed = first.home / "src" / "localhost" / "org" / "app" / "README"
    assert pushed.read_text() == "speculative\n"
    assert not (first.home / ".zuulish-workspace-bundles").exists()


def test_a_static_node_that_vanishes_mid_run_is_replaced(
        tmp_path: Path, database_url: str, static_nodes: SshNodes) -> None:
    first, second = static_nodes.nodes
    (second.home / "fast").touch()  # the first host's run waits until it vanishes
    tenant = tenant_for(tmp_path, database_url, static_nodes).start()
    try:
        number = tenant.push("org/app", {"README": "second\n"}, "A change")
        deadline = time.monotonic() + 120
        while not (first.home / "started").exists():
            assert time.monotonic() < deadline, "the job never started on the first host"
            time.sleep(0.1)
        first.vanish()
        report = tenant.wait_reported(number, "check", timeout=180)
        with tenant.aio.store.read() as s:
            [build] = s.scalars(select(BuildRow)).all()
            nodes = s.scalars(select(NodeRow).order_by(NodeRow.id)).all()
    finally:
        tenant.stop()
    output = (Path(build.log_path or "") / "job-output.txt").read_text()
    assert report.result == "SUCCESS", (build.result, build.message, output[-3000:])
    assert build.attempt == 2, output[-6000:]
    assert [n.hostname for n in nodes] == [first.address, second.address]
    assert "a node was unreachable in run" in output
    assert f"node address: {second.address}/30" in output
