"""Refused before issue 15, kept so nothing reopens: lookups run inside
ansible-playbook on the executor host, so an untrusted playbook uses them to
read the executor's files and environment: ``file``, ``template``,
``fileglob``, ``first_found``, ``pipe`` and ``env``, aimed at a file planted in
the state directory, ``secrets.key``, ``/etc/shadow``, a file planted in the
executor user's home, and variables of the executor's environment.

ansible-playbook runs in a sandbox that holds none of these: each lookup finds
nothing (the playbook says so and passes), and no planted value shows in the
log, the API, the reports or the database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.attacks import PLANTED, Attack, AttackRun, run_attacks
from zuulish.executor.sandbox import home_dir, unavailable

MISSING = unavailable()
# long: its one attack run (a module fixture) is shared by all its tests; started first,
# they stay on one xdist worker, so the run is not repeated on the other.
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

HOME_FILE = Path(home_dir()) / f".zuulish-test-{uuid.uuid4().hex}"
ENV_NAMES = ("ZUULISH_TEST_PLANTED", "PGPASSWORD", "ANSIBLE_TEST_PLANTED")


def _show(expression: str) -> str:
    return ("- hosts: all\n  gather_facts: false\n  tasks:\n"
            f"    - debug: {{msg: \"GOT[{{{{ {expression} }}}}]\"}}\n")


LOOKUPS = {
    "file-state": "lookup('file', '{planted}', errors='ignore')",
    "file-key": "lookup('file', '{state}/secrets.key', errors='ignore')",
    "file-shadow": "lookup('file', '/etc/shadow', errors='ignore')",
    "file-home": f"lookup('file', '{HOME_FILE}', errors='ignore')",
    "template-state": "lookup('template', '{planted}', errors='ignore')",
    "fileglob-state": "lookup('fileglob', '{state}/*', wantlist=True)",
    "fileglob-home": f"lookup('fileglob', '{HOME_FILE.parent}/.zuulish-test-*', wantlist=True)",
    "first-found": ("lookup('first_found', ['{planted}', '{state}/secrets.key', "
                    f"'/etc/shadow', '{HOME_FILE}'], skip=True, wantlist=True)"),
    "pipe": (f"lookup('pipe', 'cat {{planted}} {HOME_FILE} /etc/shadow 2>&1; "
             "ls {state} 2>&1; echo PIPE-$((6*7))')"),
    "env": "lookup('env', " + ", ".join(repr(n) for n in ENV_NAMES) + ")",
}
ATTACKS = [Attack(name, {f"playbooks/{name}.yaml": _show(expression)})
           for name, expression in LOOKUPS.items()]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackRun]:
    HOME_FILE.write_text(PLANTED + "\n")
    saved = {name: os.environ.get(name) for name in ENV_NAMES}
    os.environ.update({name: PLANTED for name in ENV_NAMES})
    try:
        yield from run_attacks(tmp_path_factory.mktemp("lookups"), ATTACKS)
    finally:
        HOME_FILE.unlink()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _shadow_lines() -> list[str]:
    try:
        return [line for line in Path("/etc/shadow").read_text().splitlines() if line]
    except OSError:
        return []


@pytest.mark.parametrize("name", sorted(LOOKUPS))
def test_lookups_find_nothing_of_the_executor(outcome: AttackRun, name: str) -> None:
    build, log = outcome.build(name), outcome.log(name)
    assert build.result == "SUCCESS", (build.result, build.message, log[-3000:])
    if name == "pipe":  # (a message of several lines)
        assert "PIPE-42" in log and "No such file or directory" in log, log[-3000:]
    else:  # nothing found: an empty string or list, or the env lookup's empty values
        got = [line.split("GOT[", 1)[1] for line in log.splitlines() if "msg: GOT[" in line]
        assert got, log[-3000:]
        assert got[0].rstrip("'") in ("]", "[]]", "," * (len(ENV_NAMES) - 1) + "]"), got
    shown = outcome.shown()
    assert PLANTED not in shown
    assert not any(line in shown for line in _shadow_lines())
