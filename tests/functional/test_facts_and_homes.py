"""Facts and node homes, through the real executor (issue 18, items 3 and 4).

Every build gathers its nodes' facts once and caches them for itself
(``facts.py``): trusted and untrusted playbooks see ``ansible_user_dir``,
``ansible_python``, ``ansible_distribution``, and the inventory's
``ansible_user``. A node's home (``~``, where ``src/`` lives) lasts the whole
build: what a pre-run playbook leaves under ``~/zuul-output`` is there in run
and post-run. Facts flow from trusted playbooks to untrusted ones, never back;
and a second build sees neither the first build's facts nor its home.
"""

from __future__ import annotations

import os
import pwd
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

FACT_CHECKS = """
    - name: the facts are there
      ansible.builtin.assert:
        that:
          - ansible_user_dir is defined and ansible_user_dir | length > 0
          - ansible_python.executable is defined
          - ansible_distribution is defined
          - ansible_user is defined
          - hostvars[inventory_hostname]['ansible_user'] == ansible_user
    - name: the project's checkout is in the node's home
      ansible.builtin.stat:
        path: "{{{{ ansible_user_dir }}}}/{{{{ zuul.project.src_dir }}}}/.git"
      register: src
    - ansible.builtin.assert:
        that: [src.stat.exists]
    - ansible.builtin.debug:
        msg: "{label} USER={{{{ ansible_user }}}} OS={{{{ ansible_distribution }}}}"
    - ansible.builtin.debug:
        msg: "{label} HOME={{{{ ansible_user_dir }}}}"
    - ansible.builtin.debug:
        msg: "{label} PY={{{{ ansible_python.executable }}}}"
"""

TRUSTED_PRE = """- hosts: all
  tasks:
    - name: nothing cached by an earlier build
      ansible.builtin.assert:
        that:
          - trusted_said is not defined
          - untrusted_said is not defined
""" + FACT_CHECKS.format(label="TRUSTED-PRE") + """
    - name: a trusted playbook's cacheable fact
      ansible.builtin.set_fact:
        trusted_said: from-trusted
        cacheable: true
"""

UNTRUSTED_PRE = """- hosts: all
  tasks:
    - name: the home is the build's own, fresh
      ansible.builtin.stat:
        path: ~/zuul-output/logs/x
      register: before
    - ansible.builtin.assert:
        that:
          - not before.stat.exists
          - untrusted_said is not defined
""" + FACT_CHECKS.format(label="UNTRUSTED-PRE") + """
    - ansible.builtin.file:
        path: ~/zuul-output/logs
        state: directory
    - ansible.builtin.copy:
        content: "left by pre-run\\n"
        dest: ~/zuul-output/logs/x
    - name: untrusted cacheable facts, one of them a template and one a fact's name
      ansible.builtin.set_fact:
        untrusted_said: "{{ '{{' }} lookup('pipe', 'echo EVALUATED-ON-EXECUTOR') {{ '}}' }}"
        ansible_user_dir: /somewhere/else
        cacheable: true
"""

UNTRUSTED_RUN = """- hosts: all
  tasks:
    - ansible.builtin.shell: cat ~/zuul-output/logs/x
      register: left
    - name: facts set by trusted and by untrusted playbooks reach untrusted ones
      ansible.builtin.assert:
        that:
          - left.stdout == 'left by pre-run'
          - trusted_said == 'from-trusted'
          - untrusted_said is defined
          - ansible_user_dir == '/somewhere/else'
    - ansible.builtin.debug:
        msg: "RUN-SAW {{ left.stdout }}"
"""

TRUSTED_POST = """- hosts: all
  tasks:
""" + FACT_CHECKS.format(label="TRUSTED-POST") + """
    - ansible.builtin.slurp:
        src: "{{ ansible_user_dir }}/zuul-output/logs/x"
      register: left
    - ansible.builtin.assert:
        that:
          - (left.content | b64decode) == 'left by pre-run\\n'
          - untrusted_said is not defined
          - ansible_user_dir != '/somewhere/else'
          - trusted_said == 'from-trusted'
    - ansible.builtin.debug:
        msg: "TRUSTED-POST-OK"
"""

CONFIG = {
    "zuul.d/facts.yaml": yaml.safe_dump([{"job": {
        "name": "facts-base", "parent": "base",
        "pre-run": "playbooks/trusted-pre.yaml",
        "post-run": "playbooks/trusted-post.yaml"}}]),
    "playbooks/trusted-pre.yaml": TRUSTED_PRE,
    "playbooks/trusted-post.yaml": TRUSTED_POST,
}


def app(nodeset: dict[str, Any] | None = None) -> dict[str, str]:
    job: dict[str, Any] = {"name": "facts", "parent": "facts-base",
                           "pre-run": "playbooks/pre.yaml", "run": "playbooks/run.yaml"}
    if nodeset is not None:
        job["nodeset"] = nodeset
    return {".zuul.yaml": yaml.safe_dump([{"job": job},
                                          {"project": {"check": {"jobs": ["facts"]}}}]),
            "playbooks/pre.yaml": UNTRUSTED_PRE, "playbooks/run.yaml": UNTRUSTED_RUN}


def builds(tenant: GateTenant) -> list[BuildRow]:
    with tenant.aio.store.read() as s:
        return list(s.scalars(select(BuildRow).order_by(BuildRow.created_at)))


def _output(tenant: GateTenant, build: BuildRow) -> str:
    return (tenant.config.state_dir / "logs" / build.id / "job-output.txt").read_text()


def check_build(tenant: GateTenant, build: BuildRow) -> str:
    text = _output(tenant, build)
    assert build.result == "SUCCESS", (build.result, build.message, text[-4000:])
    user = pwd.getpwuid(os.getuid()).pw_name
    for label in ("TRUSTED-PRE", "UNTRUSTED-PRE", "TRUSTED-POST"):
        assert re.search(rf"{label} USER={re.escape(user)} OS=\w+", text), text
        assert f"{label} PY=/" in text  # (on a local node: the executor's python)
        assert f"{label} HOME=/" in text
    assert "RUN-SAW left by pre-run" in text
    assert "TRUSTED-POST-OK" in text
    assert "EVALUATED-ON-EXECUTOR" not in text.replace("echo EVALUATED-ON-EXECUTOR", "")
    return text


def test_facts_and_a_home_for_the_whole_build_on_a_local_node(
        tmp_path: Path, database_url: str) -> None:
    tenant = GateTenant(tmp_path, database_url, {"org/app": app()},
                        config_files=CONFIG).start()
    try:
        first = tenant.push("org/app", {"a.txt": "a\n"})
        assert tenant.wait_reported(first, "check", timeout=240).result == "SUCCESS", \
            [(b.result, b.message) for b in builds(tenant)]
        second = tenant.push("org/app", {"b.txt": "b\n"})
        assert tenant.wait_reported(second, "check", timeout=240).result == "SUCCESS", \
            [(b.result, b.message) for b in builds(tenant)]
        done = builds(tenant)
        assert len(done) == 2
        homes = set()
        for build in done:
            text = check_build(tenant, build)
            line = next(line for line in text.splitlines() if "UNTRUSTED-PRE HOME=" in line)
            homes.add(line.split("HOME=")[1].strip())
        assert f"UNTRUSTED-PRE PY={sys.executable}" in text
        assert len(homes) == 2  # each build's node has a home of its own
        state = str(tenant.config.state_dir.resolve())
        assert all(home.startswith(state) and home.endswith("/work") for home in homes)
    finally:
        tenant.stop()

