"""A real zuulish tenant in a temporary directory, for functional tests.

Starts every component in-process (all-in-one) over the test's store, with
real git repositories on the built-in forge and real ansible-runner builds.
Tests act as users do: push with ``git push``, review, then read what a user
would see (branch tips, reports, the API).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from zuulish.app import AllInOne
from zuulish.drivers.git.review import review
from zuulish.server_config import load_server_config
from zuulish.store import ChangeRow, ReportRow

ROOT = Path(__file__).resolve().parents[2]
GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org",
           "GIT_CONFIG_NOSYSTEM": "1"}

PIPELINES = (ROOT / "config-examples/quickstart/repos/zuul-config/zuul.d/pipelines.yaml") \
    .read_text()


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout + proc.stderr


def read_dir(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


class GateTenant:
    """A tenant named ``t`` with config projects and untrusted projects."""

    def __init__(self, tmp: Path, database_url: str, projects: dict[str, dict[str, str]],
                 poll_interval: float = 0.05, pipelines: str = PIPELINES,
                 executor_workers: int | None = None,
                 providers: list[dict[str, Any]] | None = None,
                 private_key: Path | None = None,
                 config_files: dict[str, str] | None = None,
                 executor_options: dict[str, Any] | None = None,
                 connections: dict[str, dict[str, Any]] | None = None):
        """``config_files`` are added to the config project ``zuul-config`` (its
        trusted playbooks, say); ``executor_options`` to ``zuulish.yaml``'s ``executor``;
        ``connections`` to its ``connections`` (beside the forge: node clouds, say)."""
        self.tmp = tmp
        executor: dict[str, Any] = dict(executor_options or {})
        if executor_workers:
            executor["workers"] = executor_workers
        if private_key is not None:
            executor["private_key_file"] = str(private_key)
        untrusted = "\n".join(f"          - {name}" for name in projects)
        (tmp / "main.yaml").write_text(
            "- tenant:\n    name: t\n    source:\n      forge:\n        config-projects:\n"
            "          - zuul-config\n          - zuulish-jobs\n"
            f"        untrusted-projects:\n{untrusted}\n")
        (tmp / "zuulish.yaml").write_text(
            f"state_dir: state\ndatabase: {database_url}\ntenant_file: main.yaml\n"
            "web: {listen: '127.0.0.1:9', url: 'http://zuulish.test'}\n"
            + yaml.safe_dump({"connections": {"forge": {"driver": "git"},
                                              **(connections or {})}})
            + f"scheduler: {{poll_interval: {poll_interval}}}\n"
            + (yaml.safe_dump({"executor": executor}) if executor else "")
            + (yaml.safe_dump({"nodepool": {"providers": providers}}) if providers else ""))
        self.config = load_server_config(tmp / "zuulish.yaml")
        self.aio = AllInOne(self.config)
        self.forge = self.aio.connections.forges["forge"]
        self.forge.create_project("zuul-config", {"zuul.d/pipelines.yaml": pipelines,
                                                  **(config_files or {})})
        self.forge.create_project("zuulish-jobs", read_dir(ROOT / "jobs"))
        for name, files in projects.items():
            self.forge.create_project(name, files)
        self._n = 0

    def start(self) -> GateTenant:
        self.aio.start()
        return self

    def stop(self) -> None:
        self.aio.stop()

    def push(self, project: str, files: dict[str, str], subject: str = "A change",
             change_id: str | None = None, depends_on: list[int] | None = None,
             branch: str = "main", parent: str | None = None,
             links: dict[str, str] | None = None) -> int:
        """Commit ``files`` (and ``links``: path -> symbolic link target) on top of
        ``branch`` (or ``parent``) and push for review."""
        self._n += 1
        work = self.tmp / "work" / f"{self._n}"
        git(self.tmp, "clone", "-q", str(self.forge.repo_path(project)), str(work))
        if parent:
            git(work, "fetch", "-q", "origin", "+refs/changes/*:refs/changes/*")
            git(work, "checkout", "-q", parent)
        for path, text in files.items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(text)
        for path, target in (links or {}).items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).symlink_to(target)
        change_id = change_id or "I" + hashlib.sha1(f"{subject}{self._n}".encode()).hexdigest()
        footer = "".join(f"Depends-On: {self.forge.change_url(project, n)}\n"
                         for n in depends_on or [])
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"{subject}\n\n{footer}Change-Id: {change_id}\n")
        git(work, "push", "-q", "origin", f"HEAD:refs/for/{branch}")
        sha = git(work, "rev-parse", "HEAD").strip()
        with self.aio.store.read() as s:
            return s.scalars(select(ChangeRow.number).where(ChangeRow.commit_sha == sha)).one()

    def approve(self, number: int) -> None:
        review(self.aio.store, "forge", number, approve=True)

    def change(self, number: int) -> ChangeRow:
        with self.aio.store.read() as s:
            return s.scalars(select(ChangeRow).where(ChangeRow.number == number)).one()

    def reports(self, number: int, pipeline: str | None = None) -> list[ReportRow]:
        with self.aio.store.read() as s:
            change = s.scalars(select(ChangeRow).where(ChangeRow.number == number)).one()
            query = select(ReportRow).where(ReportRow.change_id == change.id)
            if pipeline:
                query = query.where(ReportRow.pipeline == pipeline)
            return list(s.scalars(query.order_by(ReportRow.id)))

    def wait_for(self, predicate, timeout: float = 120, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def job_outputs(self) -> str:
        """Every build's ``job-output.txt`` of this tenant, one after the other."""
        return "\n".join(p.read_text() for p in
                         sorted((self.config.state_dir / "logs").rglob("job-output.txt")))

    def wait_reported(self, number: int, pipeline: str, timeout: float = 120) -> ReportRow:
        return self.wait_for(lambda: next((r for r in self.reports(number, pipeline)
                                           if r.result), None),
                             timeout, f"a {pipeline} report on change {number}")

    def branch_file(self, project: str, path: str, branch: str = "main") -> str | None:
        proc = subprocess.run(["git", "show", f"refs/heads/{branch}:{path}"],
                              cwd=self.forge.repo_path(project), capture_output=True, text=True)
        return proc.stdout if proc.returncode == 0 else None
