"""Untrusted jobs through the whole system: an escaping job fails with the
refusal in its log, and the executor goes on to pass a normal job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.tenant import GateTenant
from zuulish.executor.ansible_plugins.untrusted.connection.local import REFUSAL
from zuulish.executor.sandbox import unavailable

MISSING = unavailable()  # the default sandbox: bwrap, and pasta for its private network
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

PLANTED = "executor-only-4d2e"

JOBS = """
- job:
    name: escape
    run: playbooks/escape.yaml
- job:
    name: normal
    run: playbooks/normal.yaml
- project:
    check:
      jobs: [{job}]
"""
ESCAPE = """- hosts: all
  gather_facts: false
  tasks:
    - shell: "if cat {planted}; then echo READ-ALLOWED; else echo READ-DENIED; fi"
    - command: echo on-the-executor
      delegate_to: localhost
"""
NORMAL = """- hosts: all
  gather_facts: false
  tasks:
    - shell: echo hello > hello.txt && cat hello.txt
      args:
        chdir: "{{ zuul.project.src_dir }}"
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    planted = tmp_path / "state" / "planted.txt"
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": JOBS.format(job="escape"),
        "playbooks/escape.yaml": ESCAPE.format(planted=planted),
        "playbooks/normal.yaml": NORMAL}})
    assert t.config.state_dir.absolute() == planted.parent
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(PLANTED + "\n")
    t.start()
    yield t
    t.stop()


def _job_output(tenant: GateTenant, needle: str) -> str:
    for path in (tenant.config.state_dir / "logs").rglob("job-output.txt"):
        text = path.read_text()
        if needle in text:
            return text
    raise AssertionError(f"no job-output.txt mentions {needle}")


def test_escaping_untrusted_job_fails_and_the_next_job_passes(tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"x.txt": "x\n"}, "A change")
    report = tenant.wait_reported(number, "check")
    assert report.result == "FAILURE", report.message
    text = _job_output(tenant, "escape.yaml")
    assert REFUSAL in text
    assert "READ-DENIED" in text.replace("echo READ-DENIED", "")
    assert PLANTED not in text

    # The executor serves the next build: a change that runs the normal job.
    number = tenant.push("org/app", {".zuul.yaml": JOBS.format(job="normal")}, "Normal job")
    report = tenant.wait_reported(number, "check")
    assert report.result == "SUCCESS", report.message
    assert "hello" in _job_output(tenant, "normal.yaml")
