"""Refused before issue 15, kept so nothing reopens: an untrusted playbook runs
tasks on ``localhost`` (the executor) through each way Ansible offers.

Each is refused with "untrusted playbooks may not run tasks on localhost" (the
refusing ``local`` connection of ``ansible_plugins/untrusted``), in the build's
message and its log, or, where the node's own connection variable outranks a
``connection:`` keyword, runs in the build's isolated node instead. The command
never runs in ansible-playbook's sandbox on the executor (it would print the
path of ansible-runner's data dir), and the file planted in the state directory
shows nowhere the attacker can look.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.security.attacks import Attack, AttackRun, run_attacks
from zuulish.executor.sandbox import unavailable

MISSING = unavailable()
# long: its one attack run (a module fixture) is shared by all its tests; started first,
# they stay on one xdist worker, so the run is not repeated on the other.
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

RULE = "untrusted playbooks may not run tasks on localhost"
RULES = (RULE, "untrusted playbooks may not use the connection 'ansible.builtin.local'")
# "RAN-42" only once a shell has run it; where: the node's host name is "node",
# and AWX_ISOLATED_DATA_DIR is set only in ansible-playbook's own environment.
SHELL = "shell: cat {planted}; echo RAN-$((6*7)) on $(uname -n) AWX=$AWX_ISOLATED_DATA_DIR"
ON_NODE = re.compile(r"\| node \| RAN-42 on node AWX=$", re.MULTILINE)


def _play(hosts: str, task: str) -> str:
    return f"- hosts: {hosts}\n  gather_facts: false\n  tasks:\n    - {task}\n"


REFUSED = {
    "hosts-localhost": _play("localhost", SHELL),
    "hosts-127": _play("127.0.0.1", SHELL),
    "delegate-to-localhost": _play("all", SHELL + "\n      delegate_to: localhost"),
    "delegate-to-127": _play("all", SHELL + "\n      delegate_to: 127.0.0.1"),
    "local-action": _play("all", "local_action: " + SHELL.replace(": ", " ", 1)),
    "play-vars-connection": _play("all\n  vars: {ansible_connection: local}", SHELL),
    "task-vars-connection": _play("all", SHELL + "\n      vars: {ansible_connection: local}"),
    "set-fact-connection": _play("all", "set_fact: {ansible_connection: local}\n    - "
                                 + SHELL),
    "add-host-local": ("- hosts: all\n  gather_facts: false\n  tasks:\n"
                       "    - add_host: {name: executor, ansible_connection: local}\n"
                       + _play("executor", SHELL)),
    "fqcn-vars-connection": _play(
        "all\n  vars: {ansible_connection: ansible.builtin.local}", SHELL),
    "legacy-vars-connection": _play(
        "all\n  vars: {ansible_connection: ansible.legacy.local}", SHELL),
    "fqcn-delegate": _play("all", SHELL + "\n      delegate_to: localhost\n"
                           "      vars: {ansible_connection: ansible.builtin.local}"),
    "fqcn-add-host": ("- hosts: all\n  gather_facts: false\n  tasks:\n"
                      "    - add_host: {name: executor, "
                      "ansible_connection: ansible.builtin.local}\n"
                      + _play("executor", SHELL)),
}
# The node's inventory variable ansible_connection outranks the keyword: these run
# in the node, as any task of the play would.
ON_THE_NODE = {
    "play-connection-local": _play("all\n  connection: local", SHELL),
    "task-connection-local": _play("all", SHELL + "\n      connection: local"),
    "play-connection-fqcn": _play("all\n  connection: ansible.builtin.local", SHELL),
    "play-connection-legacy": _play("all\n  connection: ansible.legacy.local", SHELL),
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackRun]:
    attacks = [Attack(name, {f"playbooks/{name}.yaml": text})
               for name, text in {**REFUSED, **ON_THE_NODE}.items()]
    yield from run_attacks(tmp_path_factory.mktemp("localhost"), attacks)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_tasks_on_localhost_are_refused(outcome: AttackRun, name: str) -> None:
    build, log = outcome.build(name), outcome.log(name)
    assert build.result == "FAILURE", (build.result, build.message, log[-3000:])
    # the rule, in the build's message and the log: Zuul's localhost rules (a
    # command is not a file operation), or the builtin connection refused by name
    said = next((rule for rule in RULES if rule in (build.message or "")), None)
    assert said is not None, (build.message, log[-3000:])
    assert said in log
    assert "RAN-42" not in log.replace("RAN-$((6*7))", "")
    outcome.assert_not_shown()


@pytest.mark.parametrize("name", sorted(ON_THE_NODE))
def test_a_connection_keyword_does_not_leave_the_node(outcome: AttackRun, name: str) -> None:
    build, log = outcome.build(name), outcome.log(name)
    assert build.result == "SUCCESS", (build.result, build.message, log[-3000:])
    assert ON_NODE.search(log), log[-3000:]
    assert "AWX=/" not in log
    outcome.assert_not_shown()
