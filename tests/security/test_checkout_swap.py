"""A process left running on the local node swaps the project's checkout in the
work dir for a link to the state directory, over and over: the project's next
playbook must still run from the tested state, and bubblewrap must never bind
what the link points at (its playbooks run from a checkout the node never sees)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.tenant import GateTenant
from zuulish.executor.sandbox import unavailable

MISSING = unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

PLANTED = "executor-only-59c1"
MARKER = "tested-state-2b7e"
JOBS = """
- job:
    name: swap
    pre-run: playbooks/swap.yaml
    run: playbooks/read.yaml
- project:
    check:
      jobs: [swap]
"""
SWAP = """- hosts: all
  gather_facts: false
  tasks:
    - shell: >-
        cd src/localhost/org &&
        (setsid sh -c 'while true; do mv app app.real && ln -s {state} app;
        rm -f app; mv app.real app; done' </dev/null >/dev/null 2>&1 &)
"""
READ = """- hosts: all
  gather_facts: false
  tasks:
    - debug:
        msg: "{{ lookup('file', playbook_dir + '/../marker.txt') }}"
    - debug:
        msg: "{{ lookup('pipe', 'cat ' + playbook_dir + '/../planted.txt || true') }}"
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    state = tmp_path / "state"
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": JOBS, "marker.txt": MARKER + "\n",
        "playbooks/swap.yaml": SWAP.format(state=state), "playbooks/read.yaml": READ}})
    state.mkdir(parents=True, exist_ok=True)
    (state / "planted.txt").write_text(PLANTED + "\n")
    t.start()
    yield t
    t.stop()


def test_a_checkout_swapped_for_a_link_on_the_node_is_not_what_playbooks_run(
        tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"x.txt": "x\n"}, "Swap the checkout")
    report = tenant.wait_reported(number, "check")
    text = tenant.job_outputs()
    assert report.result == "SUCCESS", (report.message, text)
    assert f"msg: {MARKER}" in text, text
    assert PLANTED not in text
