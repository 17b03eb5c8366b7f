"""Attack 4 (issue 15): Jinja in an untrusted job's variables, or in the data a
build returns with ``zuul_return``, evaluated by a trusted playbook on the
executor. Untrusted values reach trusted playbooks frozen and unsafe: the
trusted playbook's shell sees the text as written (or as rendered in the
sandbox, for a legitimate template), never what a lookup would have run.

Also attack 2/3 through the whole system: returned connection variables are
dropped with a line saying which rule, and never reach the dependent job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import PIPELINES, GateTenant
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

PLANTED = "planted-secret-7f3a"

# A trusted parent (in the config project) whose trusted playbook puts job
# variables into a shell, as the job library's playbooks do.
TRUSTED_JOBS = """
- job:
    name: trusted-echo
    run: playbooks/echo.yaml
    vars:
      some_var: plain
      trusted_template: "{{ 'hel' ~ 'lo' }}"
"""
ECHO = """- hosts: all
  gather_facts: false
  tasks:
    - shell: echo "seen=[{{ some_var }}]"
    - shell: echo "workdir=[{{ zuul_work_dir | default('none') }}]"
    - shell: echo "trusted=[{{ trusted_template }}]"
    - shell: echo "original=[{{ unsafe_vars.some_var }}]"
    - shell: echo "returned=[{{ returned_var | default('none') }}]"
    - setup: {gather_subset: [min]}
    - shell: echo "home=[{{ home_dir | default('none') }}]"
"""

ATTACK = "{{ lookup('pipe', 'cat %s; echo evaluated | tr a-z A-Z') }}"

CHILD_JOBS = """
- job:
    name: child
    parent: trusted-echo
    vars:
      some_var: ATTACK
      zuul_work_dir: "{{ zuul.projects[zuul.project.canonical_name].src_dir }}/sub"
      home_dir: "{{ ansible_user_dir }}/x"
- job:
    name: producer
    run: playbooks/produce.yaml
- job:
    name: consumer
    parent: trusted-echo
    dependencies: [producer]
- project:
    check:
      jobs: [child, producer, consumer]
"""
PRODUCE = """- hosts: all
  gather_facts: false
  tasks:
    - zuul_return:
        data:
          returned_var: !unsafe ATTACK
          ansible_python_interpreter: /bin/false
          zuulish_work_dir: /etc
"""


def _config() -> dict[str, str]:
    return {"zuul.d/pipelines.yaml": PIPELINES, "zuul.d/jobs.yaml": TRUSTED_JOBS,
            "playbooks/echo.yaml": ECHO}


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[tuple[GateTenant, Path]]:
    planted = tmp_path / "state" / "planted.txt"
    attack = ATTACK % planted
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": CHILD_JOBS.replace("ATTACK", _yaml_str(attack)),
        "playbooks/produce.yaml": PRODUCE.replace("ATTACK", _yaml_str(attack))}})
    # the config project with a trusted job of our own
    t.forge.remove("zuul-config")
    t.forge.create_project("zuul-config", _config())
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(PLANTED + "\n")
    t.start()
    yield t, planted
    t.stop()


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _outputs(t: GateTenant, number: int) -> dict[str, tuple[BuildRow, str]]:
    t.wait_reported(number, "check", timeout=240)
    with t.aio.store.read() as s:
        builds = list(s.scalars(select(BuildRow)))
    return {b.job: (b, (Path(b.log_path or "") / "job-output.txt").read_text())
            for b in builds}


def test_untrusted_templates_reach_trusted_playbooks_as_text(
        tenant: tuple[GateTenant, Path]) -> None:
    t, planted = tenant
    number = t.push("org/app", {"README": "more\n"}, "A change")
    done = _outputs(t, number)
    attack = ATTACK % planted
    for job in ("child", "consumer"):
        build, text = done[job]
        assert build.result == "SUCCESS", (job, build.result, build.message, text[-3000:])
        assert PLANTED not in text, job
        assert "EVALUATED" not in text, job
        # the config project's own template is still evaluated by Ansible
        assert "trusted=[hello]" in text, job
    # the trusted playbook saw the text as written (the shell echoes it)
    child_text = done["child"][1]
    assert f"seen=[{attack}]" in child_text, child_text[-3000:]
    assert f"original=[{attack}]" in child_text
    consumer_text = done["consumer"][1]
    assert f"returned=[{attack}]" in consumer_text, consumer_text[-3000:]
    assert "returned_var (returned data)" in consumer_text
    # a legitimate template in an untrusted variable is rendered in the sandbox
    assert "workdir=[src/" in child_text and "/org/app/sub]" in child_text, child_text[-3000:]
    # one that refers to the node's facts, and only reads variables, is Ansible's
    assert "home=[/" in child_text and "/x]" in child_text, child_text[-3000:]
    assert "Variables trusted playbooks get frozen and unsafe: " in child_text
    assert "some_var (org/app)" in child_text
    assert "is not a template trusted playbooks evaluate" in child_text
    # returned data: connection variables and reserved names are dropped, with the rule
    producer, produced = done["producer"]
    assert producer.result_data is not None
    assert "ansible_python_interpreter" not in producer.result_data
    assert "zuulish_work_dir" not in producer.result_data
    assert ("zuul_return: variable name 'ansible_python_interpreter' is not allowed: "
            "connection variables") in produced
    assert "variable name 'zuulish_work_dir' is reserved" in produced
    # and the build's message names each rule the returned data broke
    assert ("a returned variable was dropped: variable name 'ansible_python_interpreter' is "
            "not allowed: connection variables") in (producer.message or ""), producer.message
    assert ("a returned variable was dropped: variable name 'zuulish_work_dir' is reserved"
            in (producer.message or "")), producer.message
