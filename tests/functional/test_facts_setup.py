"""The setup run (``facts.py``): before the first playbook, the facts of nodes
that have none are gathered with real Ansible; a node it cannot reach ends the
build in NODE_FAILURE before any playbook runs, with the reason in its message."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from zuulish.executor.ansible_run import JobLog, PlaybookRun
from zuulish.executor.facts import SETUP_PHASE, BuildFacts
from zuulish.executor.phases import run_phases
from zuulish.executor.sandbox import unavailable

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed once the socket is


def test_an_unreachable_node_in_the_setup_run_is_a_node_failure(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    book = tmp_path / "books" / "run.yaml"
    book.parent.mkdir()
    book.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                    "    - debug: {msg: RUN-PLAYBOOK-RAN}\n")
    inventory = {"all": {"hosts": {"box": {
        "ansible_host": "127.0.0.1", "ansible_port": _closed_port(), "ansible_user": "zuul",
        "ansible_ssh_common_args": "-o ConnectTimeout=5"}}}}
    facts = BuildFacts(tmp_path / "priv", ["box"])
    facts.seed_localhost()
    assert facts.missing() == ["box"]
    setup = PlaybookRun(facts.setup_playbook(), SETUP_PHASE, True,
                        path="gathering the facts of box", root=facts.setup_dir)
    log = JobLog(tmp_path / "logs")
    result, message = run_phases(
        tmp_path / "priv", [], [PlaybookRun(book, "run", True)],
        [PlaybookRun(book, "post-run", True)], [], inventory, {}, log, 60, None, work,
        facts=facts, setup=setup)
    log.close()
    text = (tmp_path / "logs" / "job-output.txt").read_text()
    assert (result, message) == (
        "NODE_FAILURE", "a node was unreachable while its facts were gathered (the setup "
                        "run); the build will run on new nodes"), text
    assert "SETUP (trusted) gathering the facts of box" in text
    assert "RUN-PLAYBOOK-RAN" not in text  # neither run nor post-run ran
    assert log.tasks == []  # the setup's tasks are not the job's (job-output.json)
