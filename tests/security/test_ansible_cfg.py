"""Refused before issue 15, kept so nothing reopens: an ``ansible.cfg`` in the
repository (at its root, beside the playbook) or written into the work
directory by an earlier playbook, and ``ANSIBLE_*`` variables in a task's
``environment:``. ansible-playbook reads only zuulish's empty configuration
(``ANSIBLE_CONFIG``): the settings never apply (the timeout stays Ansible's 10,
the action plugins the file names never load), and a task's environment goes to
the node, not to Ansible.
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

PWNED = "CFG-PLUGIN-" + "LOADED"
EVIL_ACTION = ("from ansible.plugins.action import ActionBase\n\n\n"
               "class ActionModule(ActionBase):\n"
               "    def run(self, tmp=None, task_vars=None):\n"
               f"        return {{'msg': {PWNED!r}, 'failed': False}}\n")


def _cfg(timeout: int, where: str) -> str:
    """An ansible.cfg that, if read, sets the timeout and loads ``where``'s actions."""
    return f"[defaults]\ntimeout = {timeout}\naction_plugins = {where}\nlibrary = {where}\n"


SHOW = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - debug: {msg: \"TIMEOUT={{ lookup('config', 'DEFAULT_TIMEOUT') }}\"}\n"
        "    - shell: echo ON $(uname -n) AWX=$AWX_ISOLATED_DATA_DIR\n")
ENV_TASK = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
            "    - shell: echo ON $(uname -n) AWX=$AWX_ISOLATED_DATA_DIR CFG=$ANSIBLE_CONFIG\n"
            "      environment: &env\n"
            "        ANSIBLE_CONFIG: '{{ zuul.project.src_dir }}/ansible.cfg'\n"
            "        ANSIBLE_CONNECTION: local\n"
            "        ANSIBLE_TRANSPORT: local\n"
            "        ANSIBLE_ACTION_PLUGINS: '{{ zuul.project.src_dir }}/evil_actions'\n"
            "    - debug: {msg: \"TIMEOUT={{ lookup('config', 'DEFAULT_TIMEOUT') }}\"}\n"
            "      environment: *env\n")
ENV_PLAY = ENV_TASK.replace("  tasks:\n", "  environment:\n"
                            "    ANSIBLE_CONNECTION: local\n"
                            "    ANSIBLE_CONFIG: /nonexistent.cfg\n  tasks:\n", 1)
WRITE_CFG = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
             "    - copy:\n        dest: ansible.cfg\n        content: |\n"
             + "".join(f"          {line}\n" for line in _cfg(4444, "evil_actions")
                       .replace("evil_actions", "{{ zuul.project.src_dir }}/evil_actions")
                       .splitlines()))

ATTACKS = [
    Attack("cfg-at-root", {"playbooks/cfg-at-root.yaml": SHOW}),
    Attack("cfg-beside", {"playbooks/cfg-beside/play.yaml": SHOW,
                          "playbooks/cfg-beside/ansible.cfg": _cfg(4343, "../../evil_actions")},
           run="playbooks/cfg-beside/play.yaml"),
    Attack("cfg-written", {"playbooks/cfg-written.yaml": SHOW,
                           "playbooks/write-cfg.yaml": WRITE_CFG},
           job="    pre-run: playbooks/write-cfg.yaml\n"),
    Attack("env-on-task", {"playbooks/env-on-task.yaml": ENV_TASK}),
    Attack("env-on-play", {"playbooks/env-on-play.yaml": ENV_PLAY}),
]
FILES = {"ansible.cfg": _cfg(4242, "evil_actions"),
         "evil_actions/shell.py": EVIL_ACTION, "evil_actions/debug.py": EVIL_ACTION,
         "evil_actions/command.py": EVIL_ACTION}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackRun]:
    yield from run_attacks(tmp_path_factory.mktemp("cfg"), ATTACKS, extra_files=FILES)


@pytest.mark.parametrize("name", [a.name for a in ATTACKS])
def test_no_configuration_of_the_change_is_read(outcome: AttackRun, name: str) -> None:
    build, log = outcome.build(name), outcome.log(name)
    assert build.result == "SUCCESS", (build.result, build.message, log[-3000:])
    assert "msg: TIMEOUT=10" in log, log[-3000:]
    assert re.search(r"\| node \| ON node AWX=( CFG=\S*ansible\.cfg)?$", log, re.MULTILINE), \
        log[-3000:]
    assert PWNED not in log
    outcome.assert_not_shown()
