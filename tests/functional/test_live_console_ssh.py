"""The live console of a command task on a static SSH node (sshd in a network namespace)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.ssh_node import (
    SshNodes,
    make_nodes,
    missing_requirements,
    static_node_marks,
)
from zuulish.executor.ansible_run import JobLog, PhaseOutcome, PlaybookRun, run_playbook
from zuulish.executor.sandbox import find_bwrap
from zuulish.executor.ssh import BuildAgent

WHY_NOT = missing_requirements() or (None if find_bwrap() else "bubblewrap is not installed")
pytestmark = static_node_marks(WHY_NOT)
SECRET = "s3cret-On-the-Node"
PLAYBOOK = f"""\
- hosts: all
  gather_facts: false
  tasks:
    - name: take a while
      ansible.builtin.shell: echo "first {SECRET}"; sleep 3; echo second
"""


@pytest.fixture
def static_node(tmp_path: Path) -> Iterator[SshNodes]:
    nodes = make_nodes(WHY_NOT, tmp_path / "nodes", 1)
    yield nodes
    nodes.close()


@pytest.mark.parametrize("trusted", [False, True], ids=["sandboxed", "trusted"])
def test_command_output_from_an_ssh_node_is_in_the_log_while_it_runs(
        tmp_path: Path, static_node: SshNodes, trusted: bool) -> None:
    [node] = static_node.nodes
    host_vars = {"ansible_host": node.address, "ansible_port": 22, "ansible_user": "root"}
    agent = BuildAgent([{"hostname": node.address, "host_vars": host_vars,
                         "host_keys": [node.host_key]}], static_node.key)
    access = agent.start()
    log = JobLog(tmp_path / "logs", secrets=[SECRET])
    work = tmp_path / "work"
    work.mkdir()
    book = tmp_path / "playbooks" / "run.yaml"
    book.parent.mkdir()
    book.write_text(PLAYBOOK)
    outcome: list[PhaseOutcome] = []
    done = threading.Event()

    def play() -> None:
        outcome.append(run_playbook(tmp_path / "ansible", PlaybookRun(book, "run", trusted),
                                    {"all": {"hosts": {"box": host_vars}}}, {}, log, 120,
                                    None, work, ssh=access))
        done.set()

    thread = threading.Thread(target=play)
    thread.start()
    try:
        seen_early = False
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            if "box | first ******" in log.path.read_text():
                seen_early = not done.is_set()
                break
            time.sleep(0.05)
        assert seen_early, "the first line was not in the log while the task ran"
    finally:
        thread.join(120)
        agent.stop()
    log.close()
    text = log.path.read_text()
    assert outcome[0].status == "successful", text
    assert SECRET not in text
    assert text.count("box | first ******") == 1 and text.count("box | second") == 1
    assert not (node.home / ".zuulish-console").exists()
    assert not _followers(), "a console follower outlived its task"


def _followers() -> list[str]:
    """Command lines of console followers (``ssh ... python3 -c ...``) still running."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "base64.b64decode" in cmdline and str(os.getpid()) != proc.name:
            found.append(cmdline)
    return found
