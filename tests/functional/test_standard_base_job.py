"""A base job built the way Zuul's documentation recommends, without zuul-jobs.

The config project's ``std-base`` job takes its roles from an untrusted project
(``roles: [{zuul: org/stdlib}]``), and those roles do what zuul-jobs' standard
pre-run and post-run roles do, with the same modules, variables, facts,
localhost tasks, git commands and home-directory conventions (written here,
nothing of zuul-jobs copied):

- a job header printed on localhost from ``zuul`` and the node's facts and
  host vars (``ansible_user``, ``ansible_distribution``, ``nodepool``);
- the inventory copied on localhost from ``zuul.executor.inventory_file`` into
  ``zuul.executor.log_root``/zuul-info, and a host-info file templated there
  after a ``setup`` on the node;
- ``zuul_console``; ``~/zuul-output/{logs,artifacts,docs}`` made on the node from
  ``ansible_user_dir``; ``synchronize`` of ``zuul.executor.src_root`` onto the
  node's home;
- post-run: the node's ``~/zuul-output/logs`` pulled with ``synchronize`` into
  ``log_root``, and a manifest written on localhost by a module the role ships,
  returned as an artifact with ``zuul_return``.

The project's own job (untrusted) checks every new commit for a Signed-off-by
with ``git cherry``/``git show`` in ``zuul.project.src_dir`` (dco-license's way),
writes its output under ``~/zuul-output/logs``, and in its own post-run writes
into ``log_root`` on localhost (fetch-tox-output's way). A signed change passes
with every log where Zuul's roles expect it; an unsigned one fails.
"""

from __future__ import annotations

import json
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

CONFIG_JOBS = """
- job:
    name: std-base
    parent: null
    nodeset:
      nodes:
        - name: node
          label: local
    roles:
      - zuul: org/stdlib
    pre-run: playbooks/std-base/pre.yaml
    post-run: playbooks/std-base/post.yaml
"""
PRE = """- hosts: localhost
  roles:
    - header
    - inventory-log

- hosts: all
  roles:
    - console
    - output-dirs
    - host-info
    - workspace
"""
POST = """- hosts: all
  roles:
    - fetch-logs

- hosts: localhost
  roles:
    - manifest
"""
STDLIB = {
    "roles/header/tasks/main.yaml": """- name: Print the job header
  run_once: true
  debug:
    msg: |
      HEADER job={{ zuul.job }} pipeline={{ zuul.pipeline }} executor={{ zuul.executor.hostname }}
      {% for host in groups['all'] %}
      HEADER-NODE {{ host }} user={{ hostvars[host]['ansible_user'] | default('unknown') }}
      distro={{ hostvars[host]['ansible_distribution'] | default('unknown') }}
      label={{ hostvars[host]['nodepool']['label'] }}
      {% endfor %}
""",
    "roles/inventory-log/tasks/main.yaml": """- name: Make zuul-info in the log root
  file:
    path: "{{ zuul.executor.log_root }}/zuul-info"
    state: directory
    mode: "0755"

- name: Keep the inventory with the logs
  copy:
    src: "{{ zuul.executor.inventory_file }}"
    dest: "{{ zuul.executor.log_root }}/zuul-info/"
    mode: "0644"
""",
    "roles/console/tasks/main.yaml": "- name: Start the console\n  zuul_console:\n",
    "roles/output-dirs/tasks/main.yaml": """- name: Make the output directories
  file:
    path: "{{ ansible_user_dir }}/zuul-output/{{ item }}"
    state: directory
    mode: "0755"
  loop: [logs, artifacts, docs]
""",
    "roles/host-info/tasks/main.yaml": """- name: Gather the node's facts
  setup:

- name: Keep what the node is with the logs
  delegate_to: localhost
  template:
    src: host-info.j2
    dest: "{{ zuul.executor.log_root }}/zuul-info/host-info.{{ inventory_hostname }}.yaml"
    mode: "0644"
""",
    "roles/host-info/templates/host-info.j2": """user_dir: {{ ansible_user_dir }}
python: {{ ansible_python.executable }}
distribution: {{ ansible_distribution }}
""",
    "roles/workspace/tasks/main.yaml": """- name: Start the console here too
  zuul_console:

- name: Put the repositories in the node's home
  synchronize:
    src: "{{ zuul.executor.src_root }}"
    dest: "{{ ansible_user_dir }}"
    recursive: true
    owner: false
    group: false
""",
    "roles/fetch-logs/tasks/main.yaml": """- name: Make the local log directory
  delegate_to: localhost
  file:
    path: "{{ zuul.executor.log_root }}"
    state: directory
    mode: "0755"

- name: Pull the node's logs
  synchronize:
    mode: pull
    src: "{{ ansible_user_dir }}/zuul-output/logs/"
    dest: "{{ zuul.executor.log_root }}/"
    owner: false
    group: false
""",
    "roles/manifest/library/std_manifest.py": '''#!/usr/bin/python
"""List the files of a log tree into a JSON manifest (a module the role ships)."""
import json
import os

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"root": {"type": "path", "required": True},
                                          "output": {"type": "path", "required": True}})
    root = module.params["root"]
    names = sorted(os.path.relpath(os.path.join(d, f), root)
                   for d, _, files in os.walk(root) for f in files)
    with open(module.params["output"], "w") as out:
        json.dump({"files": names}, out)
    module.exit_json(changed=True, count=len(names))


if __name__ == "__main__":
    main()
''',
    "roles/manifest/tasks/main.yaml": """- name: Write the manifest
  std_manifest:
    root: "{{ zuul.executor.log_root }}"
    output: "{{ zuul.executor.log_root }}/manifest.json"

- name: Return it as an artifact
  zuul_return:
    data:
      zuul:
        artifacts:
          - name: Manifest
            url: manifest.json
""",
    "README": "standard-like roles\n",
}
SIGNOFF_CHECK = """- hosts: all
  tasks:
    - name: Every new commit is signed off
      shell:
        cmd: |
          set -e
          count=0
          bad=0
          for commit in $(git cherry origin/{{ zuul.branch }} HEAD | cut -d ' ' -f2); do
            count=$((count + 1))
            git show -s "$commit" | grep -q "Signed-off-by:" || bad=1
          done
          echo "checked $count commits" | tee ~/zuul-output/logs/signoff.txt
          test "$count" -gt 0
          exit $bad
        chdir: "{{ zuul.project.src_dir }}"
        executable: /bin/bash
"""
APP_POST = """- hosts: localhost
  tasks:
    - name: The project's own logs, written where the log root is
      file:
        path: "{{ zuul.executor.log_root }}/app"
        state: directory
    - copy:
        content: "from the untrusted post-run\\n"
        dest: "{{ zuul.executor.log_root }}/app/note.txt"
"""
APP = {
    ".zuul.yaml": """
- job:
    name: signoff
    parent: std-base
    run: playbooks/signoff.yaml
    post-run: playbooks/post.yaml
- project:
    check:
      jobs: [signoff]
""",
    "playbooks/signoff.yaml": SIGNOFF_CHECK,
    "playbooks/post.yaml": APP_POST,
}


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/stdlib": STDLIB, "org/app": APP},
                   config_files={"zuul.d/std.yaml": CONFIG_JOBS,
                                 "playbooks/std-base/pre.yaml": PRE,
                                 "playbooks/std-base/post.yaml": POST})
    t.start()
    yield t
    t.stop()


def _build(tenant: GateTenant, number: int) -> BuildRow:
    with tenant.aio.store.read() as s:
        builds = [b for b in s.scalars(select(BuildRow).where(BuildRow.job == "signoff"))
                  if b.params.get("change") == number]
    assert len(builds) == 1, [b.params.get("change") for b in builds]
    return builds[0]


def test_the_standard_base_job_and_a_signoff_check_run_on_a_local_node(
        tenant: GateTenant) -> None:
    good = tenant.push("org/app", {"a.txt": "a\n"},
                       "A signed change\n\nSigned-off-by: Test <test@example.org>")
    bad = tenant.push("org/app", {"b.txt": "b\n"}, "An unsigned change")
    tenant.wait_reported(good, "check", timeout=300)
    tenant.wait_reported(bad, "check", timeout=300)
    signed, unsigned = _build(tenant, good), _build(tenant, bad)
    logs = Path(signed.log_path or "")
    text = (logs / "job-output.txt").read_text()
    assert signed.result == "SUCCESS", (signed.message, text[-4000:])
    # the header: zuul's variables, the node's host vars and facts
    assert "HEADER job=signoff pipeline=check" in text
    assert "HEADER-NODE node user=" in text and "user=unknown" not in text
    assert "distro=unknown" not in text and "label=local" in text
    # localhost file operations into the log root, from trusted and untrusted playbooks
    inventory = (logs / "zuul-info" / "inventory.yaml").read_text()
    assert "ansible_user" in inventory and "nodepool" in inventory
    info = (logs / "zuul-info" / "host-info.node.yaml").read_text()
    assert "python: /" in info and "user_dir: /" in info, info
    assert (logs / "app" / "note.txt").read_text() == "from the untrusted post-run\n"
    # the node's ~/zuul-output/logs, pulled by synchronize; git saw the change's commit
    assert (logs / "signoff.txt").read_text() == "checked 1 commits\n"
    manifest = json.loads((logs / "manifest.json").read_text())
    assert {"signoff.txt", "app/note.txt", "zuul-info/inventory.yaml"} \
        <= set(manifest["files"]), manifest
    assert [a["name"] for a in (signed.result_data or {}).get("zuul", {})
            .get("artifacts", [])] == ["Manifest"]
    # the unsigned change: the same job, failing on its commit
    other = (Path(unsigned.log_path or "") / "job-output.txt").read_text()
    assert unsigned.result == "FAILURE", (unsigned.message, other[-4000:])
    assert (Path(unsigned.log_path or "") / "signoff.txt").read_text() == \
        "checked 1 commits\n"
