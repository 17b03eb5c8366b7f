"""Refused before issue 15, kept so nothing reopens: Ansible plugins shipped by
an untrusted project. Plugins run inside ansible-playbook (the controller, on
the executor host), where one could replace the refusing ``local`` connection:
a plugin directory beside the playbook or in a role (a link with such a name
too) stops the playbook before it starts, an ``ERROR`` naming the rule and the
directory. Modules (``library/``) are allowed: they run on the node, the
isolated local node here, and see nothing of the executor.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.attacks import Attack, AttackRun, AttackTenant
from zuulish.executor.sandbox import unavailable

MISSING = unavailable()
# long: its one attack run (a module fixture) is shared by all its tests; started first,
# they stay on one xdist worker, so the run is not repeated on the other.
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

RULE = "untrusted playbooks may not ship Ansible plugins"
# Each plugin would print this from inside ansible-playbook if it were loaded.
PWNED = "PLUGIN-LOADED-" + "e51"
PLUGIN_SOURCE = f"print({PWNED!r})\nopen('{{planted}}').read()\n"
PLAIN = "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: echo plain ran\n"
FILTER = ("PWNED = " + repr(PWNED) + "\n\n\nclass FilterModule:\n"
          "    def filters(self):\n        return {'steal': lambda x: PWNED}\n")
USE_ROLE = "- hosts: all\n  gather_facts: false\n  roles: [evil]\n"
ROLE_TASKS = "- shell: echo role ran\n"
PLUGINS = {"action_plugins": "shell.py", "connection_plugins": "local.py",
           "lookup_plugins": "file.py", "filter_plugins": "evil.py",
           "callback_plugins": "evil.py", "vars_plugins": "evil.py"}


def _attack(name: str, files: dict[str, str], play: str = PLAIN,
            links: dict[str, str] | None = None) -> Attack:
    """An attack whose playbook is alone in ``playbooks/<name>/``."""
    return Attack(name, {f"playbooks/{name}/play.yaml": play,
                         **{f"playbooks/{name}/{k}": v for k, v in files.items()}},
                  links={f"playbooks/{name}/{k}": v for k, v in (links or {}).items()},
                  run=f"playbooks/{name}/play.yaml")


# name -> (attack, the directory the ERROR names)
REFUSED = {
    **{f"beside-{kind.removesuffix('_plugins')}":
       (_attack(f"beside-{kind.removesuffix('_plugins')}", {f"{kind}/{file}": PLUGIN_SOURCE}),
        kind) for kind, file in PLUGINS.items()},
    "in-a-role": (_attack("in-a-role", {"roles/evil/tasks/main.yaml": ROLE_TASKS,
                                        "roles/evil/connection_plugins/local.py":
                                            PLUGIN_SOURCE}, USE_ROLE),
                  "roles/evil/connection_plugins"),
}
# Plugin directories Ansible adds as it reads: a collection beside the playbook,
# beside an imported playbook, in a role named by its path.
FOUND_BY_ANSIBLE = {
    "a-collection": (_attack("a-collection", {
        "collections/ansible_collections/evil/x/plugins/filter/steal.py": FILTER,
        "collections/ansible_collections/evil/x/galaxy.yml":
            "namespace: evil\nname: x\nversion: 1.0.0\n"},
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - debug: {msg: \"{{ 'x' | evil.x.steal }}\"}\n"), "collections"),
    "an-imported-playbook": (_attack("an-imported-playbook", {
        "sub/inner.yaml": "- hosts: all\n  gather_facts: false\n  tasks:\n"
                          "    - debug: {msg: \"{{ 'x' | steal }}\"}\n",
        "sub/filter_plugins/steal.py": FILTER}, "- import_playbook: sub/inner.yaml\n"),
        "sub/filter_plugins"),
    "a-role-by-path": (_attack("a-role-by-path", {
        "elsewhere/evil/tasks/main.yaml": "- debug: {msg: \"{{ 'x' | steal }}\"}\n",
        "elsewhere/evil/filter_plugins/steal.py": FILTER},
        "- hosts: all\n  gather_facts: false\n  roles: [elsewhere/evil]\n"),
        "elsewhere/evil/filter_plugins"),
}
REFUSED |= {
    "a-link": (_attack("a-link", {}, links={"filter_plugins": "../../plugins"}),
               "filter_plugins"),
}
# A role in the repository's own roles/ counts for every playbook of the
# repository: pushed as a change of its own.
IN_REPO_ROLE = Attack("in-repo-role", {"playbooks/in-repo-role.yaml": USE_ROLE,
                                       "roles/evil/tasks/main.yaml": ROLE_TASKS,
                                       "roles/evil/action_plugins/shell.py": PLUGIN_SOURCE})

MODULE = """#!/usr/bin/python
import json, os, socket
try:
    text = open('{planted}').read()
except OSError as exc:
    text = 'unreadable: ' + exc.strerror
print(json.dumps({"changed": False, "where": socket.gethostname(), "planted": text,
                  "awx": os.environ.get("AWX_ISOLATED_DATA_DIR", "")}))
"""
AT_RUN_TIME = _attack("at-run-time", {
    "src/fp/steal.py": FILTER,
    "src/tasks/main.yaml": "- debug: {msg: \"{{ 'x' | steal }}\"}\n"}, (
    "- hosts: all\n  gather_facts: false\n  tasks:\n"
    "    - shell: >-\n"
    "        mkdir -p evil/filter_plugins evil/tasks &&\n"
    "        cp {{ zuul.project.src_dir }}/playbooks/at-run-time/src/fp/steal.py\n"
    "        evil/filter_plugins/ &&\n"
    "        cp {{ zuul.project.src_dir }}/playbooks/at-run-time/src/tasks/main.yaml\n"
    "        evil/tasks/ && echo written\n"
    "    - include_role: {name: \"{{ zuul.executor.work_root }}/evil\"}\n"))
LIBRARY = _attack("library", {"library/probe.py": MODULE}, (
    "- hosts: all\n  gather_facts: false\n  tasks:\n"
    "    - probe: {}\n      register: got\n"
    "    - debug: {msg: \"MODULE {{ got.where }} {{ got.planted }} AWX={{ got.awx }}\"}\n"))


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackRun]:
    tenant = AttackTenant(tmp_path_factory.mktemp("plugins"))
    try:
        run = tenant.push([a for a, _ in (*REFUSED.values(), *FOUND_BY_ANSIBLE.values())]
                          + [LIBRARY, AT_RUN_TIME],
                          extra_files={"plugins/evil.py": PLUGIN_SOURCE})
        second = tenant.push([IN_REPO_ROLE])
        run.builds.update(second.builds)
        yield run
    finally:
        tenant.stop()


@pytest.mark.parametrize("name", [*sorted(REFUSED), "in-repo-role"])
def test_shipped_plugins_stop_the_playbook(outcome: AttackRun, name: str) -> None:
    """Found by the executor before the playbook starts."""
    build, log = outcome.build(name), outcome.log(name)
    assert build.result == "ERROR", (build.result, build.message, log[-3000:])
    where = "roles/evil/action_plugins" if name == "in-repo-role" \
        else f"playbooks/{name}/{REFUSED[name][1]}"
    rule = f"{RULE}: {where} (used by playbooks/"
    assert rule in (build.message or ""), build.message
    assert f"ERROR: {rule}" in log
    assert PWNED not in log and "| plain ran" not in log and "| role ran" not in log
    outcome.assert_not_shown()


@pytest.mark.parametrize("name", sorted(FOUND_BY_ANSIBLE))
def test_plugins_ansible_would_find_as_it_reads_stop_the_playbook(
        outcome: AttackRun, name: str) -> None:
    """Found by the guard in ansible-playbook (``untrusted_guard``) as Ansible adds
    them: the playbook could not run."""
    build, log = outcome.build(name), outcome.log(name)
    # refused before it starts (ERROR), or by Ansible as it loads the playbook: a run
    # playbook that cannot load is a FAILURE, as in Zuul
    assert build.result in ("ERROR", "FAILURE"), (build.result, build.message, log[-3000:])
    rule = f"{RULE}: playbooks/{name}/{FOUND_BY_ANSIBLE[name][1]}"
    assert rule in (build.message or ""), build.message
    assert rule in log
    assert PWNED not in log and str(outcome.tenant.config.state_dir) not in build.message
    outcome.assert_not_shown()


def test_a_role_written_at_run_time_is_refused_when_included(outcome: AttackRun) -> None:
    """The node writes a role with plugins into the work dir; including it fails
    the task, and the build's message names the rule."""
    build, log = outcome.build("at-run-time"), outcome.log("at-run-time")
    assert build.result == "FAILURE", (build.result, build.message, log[-3000:])
    rule = f"{RULE}: evil/filter_plugins"
    assert (build.message or "").endswith(f"failed: {rule}"), build.message
    assert f"reason: '{rule}'" in log and "| written" in log, log[-3000:]
    assert PWNED not in log
    outcome.assert_not_shown()


def test_a_module_runs_on_the_node_and_sees_nothing_of_the_executor(
        outcome: AttackRun) -> None:
    build, log = outcome.build("library"), outcome.log("library")
    assert build.result == "SUCCESS", (build.result, build.message, log[-3000:])
    assert "msg: 'MODULE node unreadable: No such file or directory AWX='" in log, log[-3000:]
    outcome.assert_not_shown()
