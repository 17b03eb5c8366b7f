"""Ansible on an isolated local node (``local_node.LocalNode``), real Ansible.

Trusted and untrusted playbooks alike reach the node through its agent: the
usual modules (copy, template, fetch, script, command with and without
pipelining, zuulish's live console) work there, ``become`` fails clearly, and
what one playbook leaves running is there for the next, until the node stops.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from zuulish.executor.ansible_run import JobLog, PlaybookRun, run_playbook
from zuulish.executor.local_node import LocalNode, NodeLimits
from zuulish.executor.sandbox import unavailable

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]


class Node:
    """A build directory with a started local node, and playbooks to run on it."""

    def __init__(self, tmp: Path, trusted: bool) -> None:
        self.tmp = tmp
        self.trusted = trusted
        self.node = LocalNode(tmp / "build", f"test-{tmp.name[-20:]}", NodeLimits())
        self.node.start()
        self.node.wait_ready()
        self.work = self.node.work_dir
        self.log = JobLog(tmp / "logs")
        self.inventory = {"all": {"hosts": {"node": {
            "ansible_connection": "zuulish_local", "zuulish_work_dir": str(self.work),
            "ansible_python_interpreter": sys.executable}}}}
        self.books = tmp / "books"
        self.books.mkdir()

    def play(self, name: str, tasks: str) -> tuple[str, str]:
        path = self.books / f"{name}.yaml"
        path.write_text(f"- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}")
        outcome = run_playbook(self.tmp / "ansible", PlaybookRun(path, "run", self.trusted),
                               self.inventory, {}, self.log, 120, None, self.work,
                               node_socket=self.node.socket_path)
        return outcome.status, outcome.message

    def text(self) -> str:
        self.log.close()
        return (self.tmp / "logs" / "job-output.txt").read_text()


@pytest.fixture(params=["trusted", "untrusted"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    made = Node(tmp_path, request.param == "trusted")
    yield made
    made.node.stop()


def test_modules_work_on_the_node(node: Node) -> None:
    (node.books / "greeting.j2").write_text("hello {{ who }} from {{ inventory_hostname }}\n")
    (node.books / "where.sh").write_text("#!/bin/sh\necho \"SCRIPT-ON-$(uname -n)\"\n")
    status, message = node.play("modules", f"""
    - copy: {{content: "copied\\n", dest: "{node.work}/copied.txt"}}
    - template: {{src: greeting.j2, dest: "{node.work}/greeting.txt"}}
      vars: {{who: world}}
    - script: where.sh
    - fetch: {{src: "{node.work}/greeting.txt", dest: "{node.work}/fetched/", flat: true}}
    - command: cat copied.txt
      vars: {{ansible_pipelining: false}}
    - shell: "for i in 1 2 3; do echo console-line-$i; done"
    - command: uname -n
      register: where
    - assert: {{that: ["where.stdout == 'node'"]}}
""")
    assert status == "successful", (message, node.text())
    assert (node.work / "copied.txt").read_text() == "copied\n"
    assert (node.work / "greeting.txt").read_text() == "hello world from node\n"
    assert (node.work / "fetched" / "greeting.txt").read_text() == "hello world from node\n"
    text = node.text()
    assert "SCRIPT-ON-node" in text
    for i in (1, 2, 3):
        assert f"node | console-line-{i}" in text


def test_become_gives_no_privilege(node: Node) -> None:
    """The node runs as the executor's user (root) with every capability dropped:
    ``become`` to root changes nothing (no capability comes back), ``become`` to
    another user fails, saying so."""
    status, _ = node.play("become", "    - command: id\n      become: true\n"
                          "    - shell: grep CapEff /proc/self/status\n      become: true\n"
                          "    - command: id\n      become: true\n      become_user: nobody\n")
    assert status == "failed"
    text = node.text()
    assert "CapEff:\t0000000000000000" in text, text
    assert "sudo" in text.lower(), text
    assert "uid=65534" not in text


def test_processes_live_from_one_playbook_to_the_next_until_the_node_stops(
        node: Node) -> None:
    status, _ = node.play("start", "    - shell: setsid sleep 654321 >/dev/null 2>&1 &\n")
    assert status == "successful"
    status, _ = node.play("see", "    - shell: ps -eo args | grep -q '^sleep 654321'\n")
    assert status == "successful", node.text()
    node.node.stop()
    status, _ = node.play("gone", "    - command: 'true'\n")
    assert status == "unreachable" or status == "failed"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            assert b"sleep\x00654321" not in args


def test_spare_nodes_are_fresh_and_every_build_has_its_own(tmp_path: Path) -> None:
    from zuulish.executor import node_agent
    from zuulish.executor.local_node import SpareNodes

    spares = SpareNodes(tmp_path / "builds", NodeLimits(), "none")
    first = spares.take()  # none was ready: started for this build, and a spare behind it
    first.wait_ready()
    rc, _, _ = node_agent.run(str(first.socket_path),
                              "echo left > /tmp/left; setsid sleep 543210 >/dev/null 2>&1 &")
    assert rc == 0
    first.stop()
    second = spares.take()
    try:
        second.wait_ready()
        assert second.build_dir != first.build_dir
        rc, out, _ = node_agent.run(str(second.socket_path),
                                    "ls /tmp/left; ps -eo args | grep -c '^sleep 543210'")
        assert out.decode().split() == ["0"]
        assert rc == 1
    finally:
        second.stop()
        spares.stop()


@pytest.mark.parametrize("trusted", [True, False])
def test_without_a_local_node_zuulish_local_hosts_are_refused(tmp_path: Path,
                                                              trusted: bool) -> None:
    """A build without a local node (a job whose variables turn a static node into a
    ``zuulish_local`` one, say): its tasks run nowhere, and say why."""
    from zuulish.executor.ansible_plugins.connection.zuulish_local import REFUSAL
    from zuulish.executor.local_node import NO_NODE

    work = tmp_path / "work"
    work.mkdir()
    book = tmp_path / "book.yaml"
    book.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                    f"    - shell: touch {tmp_path}/ran-on-the-executor\n")
    log = JobLog(tmp_path / "logs")
    inventory = {"all": {"hosts": {"node": {"ansible_connection": "zuulish_local",
                                            "ansible_host": "192.0.2.1"}}}}
    outcome = run_playbook(tmp_path / "ansible", PlaybookRun(book, "run", trusted), inventory,
                           {}, log, 120, None, work, node_socket=NO_NODE)
    log.close()
    assert outcome.status == "failed"
    assert REFUSAL in (tmp_path / "logs" / "job-output.txt").read_text()
    assert not (tmp_path / "ran-on-the-executor").exists()


@pytest.mark.parametrize("network", ["none", "private"])
def test_a_node_ends_when_its_executor_is_killed(tmp_path: Path, network: str) -> None:
    import signal
    import subprocess

    marker = f"{network}-node-of-a-killed-executor"
    script = (
        "import sys, time\nfrom pathlib import Path\n"
        "from zuulish.executor.local_node import LocalNode\n"
        "from zuulish.executor import node_agent\n"
        f"n = LocalNode(Path({str(tmp_path / 'build')!r}), 'killed', network={network!r})\n"
        "n.start(); n.wait_ready()\n"
        "node_agent.run(str(n.socket_path), 'setsid sh -c \"sleep 1000\" > /dev/null 2>&1 &')\n"
        "print('ready', flush=True); time.sleep(100)\n")
    executor = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                cwd=Path(__file__).resolve().parents[2])
    assert executor.stdout is not None
    assert executor.stdout.readline().strip() == b"ready"
    work = str(tmp_path / "build" / "work").encode()

    def node_processes() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if work in (entry / "cmdline").read_bytes() or \
                            (entry / "cwd").resolve() == tmp_path / "build" / "work":
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    assert node_processes()  # the launcher, bwrap, the agent and the sleep
    executor.send_signal(signal.SIGKILL)
    executor.wait()
    deadline = time.monotonic() + 10
    while node_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node_processes() == [], marker
    # (the node's emptied cgroups stay behind a killed executor: remove them here)
    for group in Path("/sys/fs/cgroup").glob("**/zuulish-node-killed-*"):
        with contextlib.suppress(OSError):
            group.rmdir()
