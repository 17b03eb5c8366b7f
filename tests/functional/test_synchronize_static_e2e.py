"""fetch-output's synchronize on a static node (a real sshd host in a network
namespace), from an untrusted playbook: ansible.posix's rsync over ssh, run by the
sandboxed controller through the build's ssh-agent, pulls the node's output into the
work directory (the untrusted guard permits its local rsync after checking the
destination); a pull into any other directory is refused, naming the rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.ssh_node import SshNodes, make_nodes, missing_requirements, static_node_marks
from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable

WHY_NOT = missing_requirements() or unavailable()
pytestmark = [*static_node_marks(WHY_NOT)]

ZUUL_YAML = """
- nodeset:
    name: one-static
    nodes: [{name: box, label: static}]
- job:
    name: fetch-output
    parent: base
    nodeset: one-static
    run: playbooks/run.yaml
- project:
    check:
      jobs: [fetch-output]
"""
RUN = """
- hosts: box
  gather_facts: false
  vars:
    collected: "{{ zuul.executor.work_root }}/collected/logs"
  tasks:
    - shell: mkdir -p zuul-output/logs && echo "static log line" > zuul-output/logs/job.log
    - name: Ensure local output dirs
      delegate_to: localhost
      file:
        path: "{{ collected }}"
        state: directory
    - name: Collect logs
      synchronize:
        dest: "{{ collected }}/"
        mode: pull
        src: zuul-output/logs/
        verify_host: true
        owner: false
        group: false
    - name: The pulled file is in the work directory
      delegate_to: localhost
      stat:
        path: "{{ collected }}/job.log"
      register: pulled
    - assert:
        that: pulled.stat.exists and pulled.stat.size == 16
    - name: A pull out of the work directory is refused
      synchronize:
        dest: /tmp/
        mode: pull
        src: zuul-output/logs/
      register: outside
      ignore_errors: true
    - assert:
        that: outside is failed and 'inside the work directory' in outside.msg
"""


@pytest.fixture
def static_nodes(tmp_path: Path) -> Iterator[SshNodes]:
    nodes = make_nodes(WHY_NOT, tmp_path / "nodes", 1, [tmp_path / "state"])
    yield nodes
    nodes.close()


def test_untrusted_fetch_output_pulls_from_a_static_node_into_the_work_dir(
        tmp_path: Path, database_url: str, static_nodes: SshNodes) -> None:
    tenant = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": ZUUL_YAML, "playbooks/run.yaml": RUN}},
        providers=[{"name": "local", "driver": "local"},
                   static_nodes.provider_config(labels=["static"])],
        private_key=static_nodes.key)
    tenant.start()
    try:
        number = tenant.push("org/app", {"x.txt": "x\n"}, "Fetch the output")
        report = tenant.wait_reported(number, "check", timeout=240)
        text = tenant.job_outputs()
        assert report.result == "SUCCESS", (report.message, text)
        assert "All assertions passed" in text
    finally:
        tenant.stop()
