"""git works in a build's workspace: an untrusted playbook on a local node (inside
its sandbox) reads the change's commits with ``git log``, ``git show`` and
``git diff``, and a sign-off check in the manner of zuul-jobs' ``dco-license``
(a shell loop over ``git cherry``) fails on a commit without ``Signed-off-by``
instead of passing on an empty list."""

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
    name: git-history
    run: playbooks/history.yaml
- job:
    name: signed-off
    run: playbooks/signed-off.yaml
- project:
    check:
      jobs: [git-history, signed-off]
"""
# Each command's output is shown with a marker, so the test reads what git saw.
HISTORY = """- hosts: all
  gather_facts: false
  tasks:
    - name: git in the change's repository
      ansible.builtin.shell:
        cmd: |
          set -e
          echo "LOG-BEGIN"; git log --format=%s; echo "LOG-END"
          echo "SHOW-BEGIN"; git show --format=%s HEAD; echo "SHOW-END"
          echo "DIFF-BEGIN"; git diff --stat origin/main..HEAD; echo "DIFF-END"
          echo "ALTERNATES: $(cat .git/objects/info/alternates 2>/dev/null || echo none)"
          git fsck --no-progress --connectivity-only
        chdir: "{{ zuul.executor.work_root }}/{{ zuul.project.src_dir }}"
        executable: /bin/bash
"""
# Like dco-license: every commit the change adds must carry a sign-off. A git that
# cannot read the repository gives an empty loop, which must not pass: the loop's
# list is computed first, so its failure fails the task.
SIGNED_OFF = """- hosts: all
  gather_facts: false
  tasks:
    - name: every new commit is signed off
      ansible.builtin.shell:
        cmd: |
          set -e
          commits=$(git cherry -v origin/{{ zuul.branch }} HEAD | cut -d " " -f2)
          test -n "$commits"
          result=0
          for commit in $commits; do
            if ! git show -s "$commit" | grep -q "Signed-off-by:"; then
              echo "UNSIGNED $commit"
              result=1
            fi
          done
          exit $result
        chdir: "{{ zuul.executor.work_root }}/{{ zuul.project.src_dir }}"
        executable: /bin/bash
"""


@pytest.fixture
def tenant(tmp_path: Path, database_url: str) -> Iterator[GateTenant]:
    t = GateTenant(tmp_path, database_url, {"org/app": {
        ".zuul.yaml": JOBS, "playbooks/history.yaml": HISTORY,
        "playbooks/signed-off.yaml": SIGNED_OFF, "value.txt": "good\n"}})
    t.start()
    yield t
    t.stop()


def _node_lines(text: str, begin: str, end: str) -> list[str]:
    """The lines the node printed between the markers ``begin`` and ``end``."""
    lines = [line.split(" | node | ", 1)[1] for line in text.splitlines()
             if " | node | " in line]
    assert begin in lines and end in lines, text
    return lines[lines.index(begin) + 1:lines.index(end)]


def test_untrusted_playbook_on_a_local_node_reads_the_changes_commits(
        tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"value.txt": "better\n"},
                         "Make the value better\n\nSigned-off-by: Test <test@example.org>")
    report = tenant.wait_reported(number, "check")
    text = tenant.job_outputs()
    assert report.result == "SUCCESS", f"{report.message}\n{text}"
    assert _node_lines(text, "LOG-BEGIN", "LOG-END") == [
        "Make the value better", "Initial commit of org/app"]
    assert "Make the value better" in _node_lines(text, "SHOW-BEGIN", "SHOW-END")
    diff = _node_lines(text, "DIFF-BEGIN", "DIFF-END")
    assert diff[0].split() == ["value.txt", "|", "2", "+-"], diff
    assert "ALTERNATES: none" in text  # the workspace holds its own objects


def test_sign_off_check_fails_on_a_commit_without_signed_off_by(tenant: GateTenant) -> None:
    number = tenant.push("org/app", {"value.txt": "unsigned\n"}, "Forget the sign-off")
    report = tenant.wait_reported(number, "check")
    text = tenant.job_outputs()
    assert report.result == "FAILURE", f"{report.message}\n{text}"
    assert "UNSIGNED " in text, text
    assert "git-history" in report.message and "signed-off" in report.message
