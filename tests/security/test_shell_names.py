"""Refused before issue 15 (the project-name half was attack 3b), kept so
nothing reopens: names an untrusted change controls, with ``$(...)`` and
backticks in them, reaching a shell of the merger, the executor or the job
library: a branch name, a project name and file names in the change.

The change is tested on that branch like any other (the merger and the
library's base pre-run handle every name as data), the job sees each name as
written, and no command substitution runs anywhere (it would print ``uid=``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fakes.tenant import GateTenant, git
from zuulish.drivers.git.connection import ADMIN_ENV
from zuulish.executor.sandbox import unavailable
from zuulish.store import BuildRow

MISSING = unavailable()
# long: its one attack run (a module fixture) is shared by all its tests; started first,
# they stay on one xdist worker, so the run is not repeated on the other.
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} (.ci/run installs it for CI)")]

PROJECT = "org/tick`id`"
BRANCH = "rel-$(id)-`id`"
FILES = ["$(id).txt", "`id`.txt"]
ZUUL_YAML = """
- job:
    name: library-job
    parent: run-shell
- job:
    name: show-names
    run: playbooks/show.yaml
- project:
    check:
      jobs: [library-job, show-names]
"""
SHOW = """- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "BRANCH=[{{ zuul.branch }}]"}
    - debug: {msg: "PROJECT=[{{ zuul.project.name }}]"}
    - shell: ls {{ zuul.project.src_dir | quote }}
"""


def _branch(tenant: GateTenant, project: str, branch: str) -> None:
    """An administrator's push of ``branch`` from main."""
    work = tenant.tmp / "branching"
    git(tenant.tmp, "clone", "-q", str(tenant.forge.repo_path(project)), str(work))
    os.environ[ADMIN_ENV] = "1"
    try:
        git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    finally:
        del os.environ[ADMIN_ENV]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[BuildRow,
                                                                                 str]]]:
    tmp = tmp_path_factory.mktemp("names")
    tenant = GateTenant(tmp, f"sqlite:///{tmp / 'zuulish.db'}", {PROJECT: {"README": "x\n"}})
    _branch(tenant, PROJECT, BRANCH)
    tenant.start()
    try:
        number = tenant.push(PROJECT, {".zuul.yaml": ZUUL_YAML, "playbooks/show.yaml": SHOW,
                                       **{name: "x\n" for name in FILES}},
                             "Names with shell in them", branch=BRANCH)
        report = tenant.wait_reported(number, "check", timeout=300)
        with tenant.aio.store.read() as s:
            found = {b.job: (b, (Path(b.log_path or "") / "job-output.txt").read_text())
                     for b in s.scalars(select(BuildRow))}
        assert report.result == "SUCCESS", (report.message, found["show-names"][1][-2500:])
        yield found
    finally:
        tenant.stop()


@pytest.mark.parametrize("job", ["library-job", "show-names"])
def test_no_name_is_run_as_a_command(builds: dict[str, tuple[BuildRow, str]],
                                     job: str) -> None:
    build, log = builds[job]
    assert build.result == "SUCCESS", (build.message, log[-3000:])
    assert "uid=" not in log, log[-3000:]
    assert f"{PROJECT}: " in log, log[-3000:]  # the base pre-run printed it as written


def test_the_job_sees_each_name_as_written(builds: dict[str, tuple[BuildRow, str]]) -> None:
    _, log = builds["show-names"]
    assert f"msg: BRANCH=[{BRANCH}]" in log, log[-3000:]
    assert f"msg: PROJECT=[{PROJECT}]" in log
    for name in FILES:
        assert f"| {name}" in log, (name, log[-3000:])  # ls listed it
