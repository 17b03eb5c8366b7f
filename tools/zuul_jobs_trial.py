"""Run Zuul's standard base job and zuul-jobs' own jobs through a real zuulish.

Usage::

    .venv/bin/python tools/zuul_jobs_trial.py --zuul-jobs PATH [--keep DIR] [--static]

``PATH`` is a clone (or bare git directory) of the public zuul-jobs repository;
its ``HEAD`` is imported, history and all, as the untrusted project
``zuul/zuul-jobs`` of a tenant on the embedded default (SQLite, the built-in
forge, the local node pool). A config project holds the base job the way Zuul's
documentation recommends it (``roles: [{zuul: zuul/zuul-jobs}]`` and the
standard pre-run and post-run roles), and ``org/app`` (an offline tox
environment and a unit test) runs zuul-jobs' ``tox``, ``run-test-command`` and
``dco-license``. Two changes are pushed: a good one and a bad one (a failing
test, no Signed-off-by). The tool prints one line per build and per role it
saw run, then one JSON line of figures; it exits 1 when a build's result is
not the one expected.

With ``--static`` the base job's node is a static node (an sshd in a network
namespace of its own, as the tests make them: root and ``ip netns`` needed)
instead of a local one; that node has no route to the internet, so roles that
install from PyPI (ensure-tox) fail there for that reason alone.

Nothing of zuul-jobs is copied into this repository: it is read from ``PATH``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from sqlalchemy import select  # noqa: E402

from zuulish.app import AllInOne  # noqa: E402
from zuulish.server_config import load_server_config  # noqa: E402
from zuulish.store import BuildRow, ChangeRow, ReportRow  # noqa: E402
from zuulish.store.queue import BuildSetRow, QueueItemRow  # noqa: E402

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Trial", "GIT_AUTHOR_EMAIL": "trial@example.org",
           "GIT_COMMITTER_NAME": "Trial", "GIT_COMMITTER_EMAIL": "trial@example.org",
           "GIT_CONFIG_NOSYSTEM": "1"}

TENANT = """\
- tenant:
    name: t
    source:
      forge:
        config-projects:
          - zuul-config
        untrusted-projects:
          - zuul/zuul-jobs
          - org/app
"""

BASE_JOB = """\
- job:
    name: base
    parent: null
    description: The base job, as Zuul's documentation recommends it.
    roles:
      - zuul: zuul/zuul-jobs
    pre-run: playbooks/base/pre.yaml
    post-run: playbooks/base/post.yaml
    timeout: 1800
    nodeset:
      nodes:
        - name: node
          label: {label}
"""

BASE_PRE = """\
- hosts: localhost
  roles:
    - emit-job-header
    - log-inventory

- hosts: all
  roles:
    - start-zuul-console
    - ensure-output-dirs
    - validate-host
    - prepare-workspace
"""

BASE_POST = """\
- hosts: all
  roles:
    - fetch-output

- hosts: localhost
  roles:
    - generate-zuul-manifest
"""

APP_JOBS = """\
- job:
    name: app-tox
    parent: tox
    vars:
      tox_envlist: unit
      tox_install_siblings: false

- job:
    name: app-test-command
    parent: run-test-command
    vars:
      test_command: python3 -m unittest discover -v tests

- project:
    check:
      jobs:
        - app-tox
        - app-test-command
        - dco-license
"""

TOX_INI = """\
[tox]
envlist = unit
skipsdist = true

[testenv:unit]
skip_install = true
deps =
commands = python -m unittest discover -v tests
"""

GOOD_TEST = """\
import unittest


class TestSum(unittest.TestCase):
    def test_sum(self):
        self.assertEqual(sum([1, 2, 3]), 6)
"""

BAD_TEST = GOOD_TEST.replace("6)", "7)")

EXPECTED = {"good": "SUCCESS", "bad": "FAILURE"}


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=GIT_ENV)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def import_zuul_jobs(forge, source: Path) -> str:
    """The forge's ``zuul/zuul-jobs`` holds ``source``'s HEAD, history and all."""
    path = forge.create_project("zuul/zuul-jobs")
    git(path, "fetch", "-q", "--no-tags", str(source), "+HEAD:refs/heads/main")
    return git(path, "rev-parse", "refs/heads/main").strip()


def push(forge, tmp: Path, project: str, files: dict[str, str], message: str) -> str:
    work = Path(tempfile.mkdtemp(dir=tmp, prefix="push-"))
    git(tmp, "clone", "-q", str(forge.repo_path(project)), str(work))
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git(work, "add", "-A")
    change_id = "I" + hashlib.sha1(f"{message}{time.time()}".encode()).hexdigest()
    git(work, "commit", "-q", "-m", f"{message.rstrip()}\nChange-Id: {change_id}\n")
    git(work, "push", "-q", "origin", "HEAD:refs/for/main")
    return git(work, "rev-parse", "HEAD").strip()


def change_files(good: bool) -> dict[str, str]:
    return {".zuul.yaml": APP_JOBS, "tox.ini": TOX_INI,
            "tests/__init__.py": "", "tests/test_sum.py": GOOD_TEST if good else BAD_TEST}


def wait_builds(aio: AllInOne, sha: str, timeout: float) -> tuple[ChangeRow, list[BuildRow]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with aio.store.read() as s:
            change = s.scalars(select(ChangeRow).where(ChangeRow.commit_sha == sha)).first()
            if change is not None:
                report = s.scalars(select(ReportRow).where(
                    ReportRow.change_id == change.id, ReportRow.pipeline == "check",
                    ReportRow.result.is_not(None))).first()
                if report is not None:
                    builds = list(s.scalars(
                        select(BuildRow).join(BuildSetRow, BuildRow.buildset_id == BuildSetRow.id)
                        .join(QueueItemRow, BuildSetRow.item_id == QueueItemRow.id)
                        .where(QueueItemRow.pipeline == "check",
                               QueueItemRow.change_number == change.number)
                        .order_by(BuildRow.created_at)))
                    return change, builds
        time.sleep(0.5)
    raise TimeoutError(f"no check report for {sha[:12]} in {timeout:.0f}s")


TASK = re.compile(r"TASK \[(?P<role>[\w.-]+) : ")
RESULT = re.compile(r"^\S* *\| *(?P<status>ok|changed|fatal|skipping|failed)\b")


def roles_seen(log: str) -> dict[str, Counter]:
    """Per role, how its tasks ended, read from a job-output.txt."""
    seen: dict[str, Counter] = {}
    role = None
    for line in log.splitlines():
        match = TASK.search(line)
        if match:
            role = match["role"]
            seen.setdefault(role, Counter())
            continue
        if role is not None:
            for status in ("fatal", "failed", "changed", "ok", "skipping"):
                if re.search(rf"\b{status}\b[:!]", line):
                    seen[role][status] += 1
                    break
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zuul-jobs", required=True, type=Path,
                        help="a clone or git directory of zuul-jobs")
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--static", action="store_true",
                        help="run the jobs on a static node (sshd in a network namespace)")
    args = parser.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="zuul-jobs-trial-"))
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "main.yaml").write_text(TENANT)
    settings: dict[str, object] = {
        "state_dir": "state", "tenant_file": "main.yaml",
        "web": {"listen": "127.0.0.1:9", "url": "http://zuulish.test"},
        "connections": {"forge": {"driver": "git"}}, "scheduler": {"poll_interval": 0.1}}
    nodes = None
    if args.static:
        from tests.fakes.ssh_node import SshNodes  # sshd in a network namespace

        nodes = SshNodes(tmp / "nodes", count=1, hidden=[tmp / "state"])
        settings["nodepool"] = {"providers": [{"name": "local", "driver": "local"},
                                              nodes.provider_config(labels=["static"])]}
        settings["executor"] = {"private_key_file": str(nodes.key)}
    (tmp / "zuulish.yaml").write_text(yaml.safe_dump(settings))
    aio = AllInOne(load_server_config(tmp / "zuulish.yaml"))
    forge = aio.connections.forges["forge"]
    pipelines = (ROOT / "config-examples/quickstart/repos/zuul-config/zuul.d/pipelines.yaml")
    base_job = BASE_JOB.format(label="static" if args.static else "local")
    forge.create_project("zuul-config", {
        "zuul.d/pipelines.yaml": pipelines.read_text(), "zuul.d/jobs.yaml": base_job,
        "playbooks/base/pre.yaml": BASE_PRE, "playbooks/base/post.yaml": BASE_POST})
    zuul_jobs = import_zuul_jobs(forge, args.zuul_jobs)
    forge.create_project("org/app", {"README": "app\n"})
    print(f"zuul-jobs at {zuul_jobs}; work dir {tmp}", flush=True)
    aio.start()
    figures: dict[str, object] = {"zuul_jobs": zuul_jobs}
    failures = 0
    try:
        shas = {"good": push(forge, tmp, "org/app", change_files(True),
                             "Add a unit test\n\nSigned-off-by: Trial <trial@example.org>\n"),
                "bad": push(forge, tmp, "org/app", change_files(False),
                            "Add a broken unit test\n")}
        for kind, sha in shas.items():
            started = time.monotonic()
            change, builds = wait_builds(aio, sha, args.timeout)
            figures[f"{kind}_seconds"] = round(time.monotonic() - started, 1)
            for build in builds:
                expected = EXPECTED[kind]
                ok = build.result == expected
                failures += not ok
                print(f"{kind:4} change {change.number} {build.job:18} {build.result or '-':12} "
                      f"(expected {expected}) {'' if ok else '<-- unexpected'}", flush=True)
                logs = aio.config.state_dir / "logs" / build.id
                output = logs / "job-output.txt"
                if not output.is_file():
                    continue
                for role, counts in sorted(roles_seen(output.read_text()).items()):
                    print(f"    role {role:28} {dict(counts)}")
                if not ok:
                    tail = output.read_text().splitlines()[-25:]
                    print("    | " + "\n    | ".join(tail))
    finally:
        aio.stop()
        if nodes is not None:
            nodes.close()
    figures["node"] = "static" if args.static else "local"
    figures["unexpected_results"] = failures
    print(json.dumps(figures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
