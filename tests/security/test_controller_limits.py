"""An untrusted playbook's ansible-playbook runs ``pipe`` lookups in its own
sandbox on the executor host: they may not fork without bound nor fill the
host's memory or disk through the sandbox's ``/tmp``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.tenant import GateTenant
from zuulish.executor import node_cgroup
from zuulish.executor.ansible_run import CONTROLLER_LIMITS
from zuulish.executor.sandbox import unavailable

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

JOBS = """
- job:
    name: greedy
    run: playbooks/greedy.yaml
- project:
    check:
      jobs: [greedy]
"""
# 1500 background sleepers, counting those that started (with shell builtins:
# once the limit is reached nothing else can fork);
# then a /tmp file of 400 MB, and how much of it was written.
GREEDY = """- hosts: all
  gather_facts: false
  vars:
    forks: >-
      n=0; for i in $(seq 1 1500); do
      (sleep 30 </dev/null >/dev/null 2>&1 &) 2>/dev/null && n=$((n+1)); done;
      echo STARTED=$n
    fill: >-
      dd if=/dev/zero of=/tmp/fill bs=1M count=400 2>/dev/null;
      echo TMP_MB=$(( $(stat -c %s /tmp/fill) / 1048576 ))
  tasks:
    - debug:
        msg: "{{ lookup('pipe', forks) }}"
    - debug:
        msg: "{{ lookup('pipe', fill) }}"
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": JOBS, "playbooks/greedy.yaml": GREEDY}})
    t.start()
    yield t
    t.stop()


def test_untrusted_controller_has_process_and_tmp_limits(tenant: GateTenant) -> None:
    probe = node_cgroup.create("probe-limits", 10, 64)
    probe.remove()
    if "pids" in probe.missing:
        pytest.skip("no pids cgroup can be made here")
    number = tenant.push("org/app", {"x.txt": "x\n"}, "Greedy lookups")
    tenant.wait_reported(number, "check")
    text = tenant.job_outputs()
    procs = re.search(r"msg: STARTED=(\d+)", text)
    assert procs is not None, text
    assert int(procs[1]) <= CONTROLLER_LIMITS.max_processes
    tmp = re.search(r"msg: TMP_MB=(\d+)", text)
    assert tmp is not None, text
    assert int(tmp[1]) <= CONTROLLER_LIMITS.tmp_mb
