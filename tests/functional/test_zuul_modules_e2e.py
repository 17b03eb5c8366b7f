"""The modules Zuul's Ansible provides, in an untrusted project's playbook through the
real executor on a local node: zuul_console (start-zuul-console), ansible.posix's
synchronize (fetch-output's pull into the work dir) and community.general's
ini_file, git_config and archive, with the localhost file operation fetch-output
does first; and a role using a module zuulish does not provide, which the build's
message names with the role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

JOBS = """
- job:
    name: modules
    run: playbooks/modules.yaml
- job:
    name: unknown-module
    run: playbooks/unknown.yaml
- project:
    check:
      jobs: [modules, unknown-module]
"""
MODULES = """- hosts: all
  gather_facts: false
  vars:
    work: "{{ zuul.executor.work_root }}"
  roles:
    - collect
"""
COLLECT = """- name: Start zuul_console daemon (start-zuul-console)
  zuul_console:
- zuul_console:
    port: 19885
- file:
    path: "{{ work }}/zuul-output/logs"
    state: directory
- name: The job's output on the node
  copy:
    content: "log line\\n"
    dest: "{{ work }}/zuul-output/logs/job.log"
- ini_file:
    path: "{{ work }}/tox.ini"
    section: tox
    option: envlist
    value: py3
- git_config:
    scope: file
    file: "{{ work }}/gitconfig"
    name: user.name
    value: Zuul Test
- archive:
    path: "{{ work }}/zuul-output/logs"
    dest: "{{ work }}/zuul-output/logs.tar.gz"
    format: gz
- name: Ensure local output dirs (fetch-output)
  delegate_to: localhost
  file:
    path: "{{ work }}/collected/logs"
    state: directory
    mode: "0755"
- name: Collect logs (fetch-output)
  synchronize:
    dest: "{{ work }}/collected/logs/"
    mode: pull
    src: "{{ work }}/zuul-output/logs/"
    verify_host: true
    owner: false
    group: false
- name: Check what the modules did
  shell: |
    grep '^envlist = py3' tox.ini
    echo "git-name=$(git config -f gitconfig user.name)"
    tar tzf zuul-output/logs.tar.gz
    echo "collected=$(cat collected/logs/job.log)"
  args:
    chdir: "{{ work }}"
"""
UNKNOWN = """- hosts: all
  gather_facts: false
  roles:
    - broken
"""
BROKEN = """- name: Use a module nobody provides
  not_a_zuulish_module:
    answer: 42
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": JOBS, "playbooks/modules.yaml": MODULES,
        "playbooks/roles/collect/tasks/main.yaml": COLLECT,
        "playbooks/unknown.yaml": UNKNOWN,
        "playbooks/roles/broken/tasks/main.yaml": BROKEN}})
    t.start()
    yield t
    t.stop()


def test_zuul_modules_and_collections_work_and_an_unknown_module_is_named(
        tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"x.txt": "x\n"}, "Use Zuul's modules")
    report = tenant.wait_reported(number, "check", timeout=240)
    text = tenant.job_outputs()
    assert report.result == "FAILURE", (report.message, text)
    # the modules job passed, and what its modules did shows in its output
    assert "fatal:" not in text, text
    assert "envlist = py3" in text, text
    assert "git-name=Zuul Test" in text, text
    assert "job.log" in text
    assert "collected=log line" in text, text
    # the broken role's job: the module and the role are named, not a traceback
    with tenant.aio.store.read() as s:
        broken = s.scalars(select(BuildRow).where(BuildRow.job == "unknown-module")).one()
    # a playbook that cannot load fails in its phase, as in Zuul (FAILURE in run)
    assert broken.result == "FAILURE", broken.message
    assert ("module 'not_a_zuulish_module' is not provided by zuulish or the Ansible "
            "collections it installs (in role 'broken': org/app/playbooks/roles/broken/tasks/"
            "main.yaml line 1, column 3)" in broken.message), broken.message
    assert "Traceback" not in broken.message
    assert str(tenant.config.state_dir) not in broken.message
