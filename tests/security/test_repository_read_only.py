"""An untrusted playbook's own repository is read-only in its sandbox: a ``pipe``
lookup cannot add plugins to it mid-run (the shipped-plugin check runs when the
playbook starts), though the repository lies in the read-write work dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

JOBS = """
- job:
    name: write-repo
    run: playbooks/write.yaml
- project:
    check:
      jobs: [write-repo]
"""
WRITE = """- hosts: all
  gather_facts: false
  vars:
    attempt: >-
      mkdir -p {{ playbook_dir }}/roles/evil/connection_plugins 2>/dev/null
      && echo REPO-WRITABLE || echo REPO-READ-ONLY
  tasks:
    - debug:
        msg: "{{ lookup('pipe', attempt) }}"
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": JOBS, "playbooks/write.yaml": WRITE}})
    t.start()
    yield t
    t.stop()


def test_untrusted_playbook_cannot_write_its_own_repository(tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"x.txt": "x\n"}, "Write the repo")
    report = tenant.wait_reported(number, "check")
    text = tenant.job_outputs()
    assert "msg: REPO-READ-ONLY" in text, text
    assert "msg: REPO-WRITABLE" not in text
    assert report.result == "SUCCESS", report.message
