"""Refused before issue 15, kept so nothing reopens: ``copy``, ``template`` and
``fetch`` read and write their ``src``/``dest`` on the controller, the executor
host: an untrusted playbook names executor paths (a file planted in the state
directory, ``secrets.key``) or copies a repository symlink that points at one.

ansible-playbook's sandbox holds none of them: the task fails with Ansible's
"could not find" (the build's result is FAILURE), ``fetch`` writes nothing into
the executor's state directory, and the planted value shows nowhere.
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

# From the untrusted checkout (<state>/builds/<id>/untrusted/org/app/links) up to <state>.
TO_STATE = "../../../../../.."


def _play(task: str) -> str:
    return ("- hosts: all\n  gather_facts: false\n  tasks:\n"
            f"    - {task}\n"
            "    - shell: cat got* 2>&1; echo CAT-$((6*7))\n")


REPO = "{{ playbook_dir }}/../links"
ATTACKS = {
    "copy-state": _play("copy: {src: '{planted}', dest: got.txt}"),
    "copy-key": _play("copy: {src: '{state}/secrets.key', dest: got.txt}"),
    "template-state": _play("template: {src: '{planted}', dest: got.txt}"),
    "copy-absolute-link": _play(f"copy: {{src: '{REPO}/absolute', dest: got.txt}}"),
    "copy-relative-link": _play(f"copy: {{src: '{REPO}/relative', dest: got.txt}}"),
    "copy-dir-of-links": _play(f"copy: {{src: '{REPO}/', dest: gotdir/}}"),
    "copy-link-on-node": _play("copy: {src: '{{ zuul.project.src_dir }}/links/absolute', "
                               "dest: got.txt, remote_src: true}"),
}
FETCH = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
         "    - shell: echo fetched-by-the-change > out.txt\n"
         "    - fetch: {src: out.txt, dest: '{state}/fetched.txt', flat: true}\n")
LINKS = {"links/absolute": "{planted}", "links/relative": f"{TO_STATE}/planted.txt"}
# ansible-playbook's sandbox holds no such file, and Zuul's localhost rules refuse to
# read outside the work directory, the playbook's repository and its roles
NOT_FOUND = ("Could not find or access", "not found", "No such file or directory",
             "untrusted playbooks may only read files inside the work directory")


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AttackRun,
                                                                       AttackTenant]]:
    tenant = AttackTenant(tmp_path_factory.mktemp("paths"))
    try:
        attacks = [Attack(name, {f"playbooks/{name}.yaml": text})
                   for name, text in {**ATTACKS, "fetch-into-state": FETCH}.items()]
        attacks[0].links = LINKS
        yield tenant.push(attacks), tenant
    finally:
        tenant.stop()


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_executor_paths_are_out_of_reach(attack: tuple[AttackRun, AttackTenant],
                                         name: str) -> None:
    outcome, tenant = attack
    build, log = outcome.build(name), outcome.log(name)
    assert build.result == "FAILURE", (build.result, build.message, log[-3000:])
    assert any(said in log for said in NOT_FOUND), log[-3000:]
    assert "CAT-42" not in log.replace("CAT-$((6*7))", "")
    outcome.assert_not_shown()


def test_fetch_writes_nothing_into_the_state_directory(
        attack: tuple[AttackRun, AttackTenant]) -> None:
    """``fetch`` may write only into the work directory (Zuul's rule), and
    ansible-playbook's sandbox has no state directory to write into anyway."""
    outcome, tenant = attack
    build = outcome.build("fetch-into-state")
    assert build.result == "FAILURE", (build.message, outcome.log("fetch-into-state")[-3000:])
    assert "untrusted playbooks may only write files inside the work directory" \
        in (build.message or ""), build.message
    assert not tenant.planted.with_name("fetched.txt").exists()
    assert sorted(p.name for p in tenant.planted.parent.glob("fetched*")) == []
