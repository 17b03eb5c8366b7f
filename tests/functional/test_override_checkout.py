"""Zuul's ``override-checkout``: a job checks out the named branch or tag of its
projects instead of the change's branch; a ref a project lacks leaves its usual one."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.fakes.tenant import GateTenant, git
from zuulish.drivers.git.connection import ADMIN_ENV

pytestmark = [pytest.mark.slow]

CHECKS = """
    vars:
      command: |
        set -ex
        test "$(cat value.txt)" = {app}
        test "$(cat ../lib/value.txt)" = {lib}
"""


def job(name: str, settings: str, app: str, lib: str) -> str:
    """A job that checks the value files its checkouts of org/app and org/lib have."""
    return (f"- job:\n    name: {name}\n    parent: run-shell\n{settings}"
            + CHECKS.format(app=app, lib=lib))


APP_CONFIG = (
    job("on-stable", "    override-checkout: stable\n    required-projects: [org/lib]\n",
        app="stable-app", lib="stable-lib")
    + job("lib-tag", "    required-projects:\n      - name: org/lib\n"
                     "        override-checkout: v1\n",
          app="changed-app", lib="tagged-lib")
    + job("both", "    override-checkout: stable\n    required-projects:\n"
                  "      - name: org/lib\n        override-checkout: v1\n",
          app="stable-app", lib="tagged-lib")
    + job("no-such-ref", "    override-checkout: nowhere\n    required-projects: [org/lib]\n",
          app="changed-app", lib="main-lib")
    + "- project:\n    check:\n      jobs: [on-stable, lib-tag, both, no-such-ref]\n")


def _admin_push(tmp: Path, t: GateTenant, project: str, files: dict[str, str],
                refspec: str, tag: str | None = None) -> None:
    work = tmp / f"admin-{project.replace('/', '-')}-{refspec.rsplit('/', 1)[-1]}"
    git(tmp, "clone", "-q", str(t.forge.repo_path(project)), str(work))
    for path, text in files.items():
        (work / path).write_text(text)
    git(work, "commit", "-q", "-am", f"For {refspec}")
    if tag:
        git(work, "tag", tag)
    os.environ[ADMIN_ENV] = "1"  # an administrator creates branches and tags
    try:
        git(work, "push", "-q", "origin", refspec)
    finally:
        del os.environ[ADMIN_ENV]


def test_jobs_check_out_the_branch_or_tag_override_checkout_names(
        tmp_path: Path, database_url: str) -> None:
    t = GateTenant(tmp_path, database_url, {
        "org/app": {".zuul.yaml": APP_CONFIG, "value.txt": "main-app\n"},
        "org/lib": {"value.txt": "main-lib\n"},
    })
    _admin_push(tmp_path, t, "org/app", {"value.txt": "stable-app\n"},
                "HEAD:refs/heads/stable")
    _admin_push(tmp_path, t, "org/lib", {"value.txt": "stable-lib\n"},
                "HEAD:refs/heads/stable")
    _admin_push(tmp_path, t, "org/lib", {"value.txt": "tagged-lib\n"}, "refs/tags/v1",
                tag="v1")
    t.start()
    try:
        change = t.push("org/app", {"value.txt": "changed-app\n"}, "Change the value")
        report = t.wait_reported(change, "check", timeout=180)
        outputs = t.job_outputs()
    finally:
        t.stop()
    assert report.result == "SUCCESS", (report.message, outputs[-4000:])
    for name in ("on-stable", "lib-tag", "both", "no-such-ref"):
        assert f"- {name} " in report.message
    # what each build checked out, and why: zuul.projects' checkout and
    # checkout_description come from the same prepared repositories
    prepared = re.findall(r"Prepared src/localhost/(\S+) at \w+ \((.+)\)", outputs)
    expected = {("org/app", f"{app_ref}: {app_why}") for app_ref, app_why in (
        ("stable", "job override ref"), ("main", "zuul branch"))} | \
        {("org/lib", f"{ref}: {why}") for ref, why in (
            ("stable", "job override ref"), ("v1", "project override ref"),
            ("main", "zuul branch"))}
    assert set(prepared) == expected
