"""The real forge, timer, scheduler and merger on a simulated clock, without Ansible.

Projects are real git repositories on the built-in forge, pushes are real
``git push`` runs (their hooks record events in the store), and the real merger
builds each item's state. Only the executor is replaced: a build that reaches
the queue finishes at once with the result the test chose for its job, and
its parameters are kept, so a test can read exactly what a job would have
been given (the ``zuul`` variable's project, ref and commits).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import select

from zuulish.app import AllInOne
from zuulish.clock import SimulatedClock
from zuulish.model import BuildResult, BuildState
from zuulish.server_config import load_server_config
from zuulish.store import BuildRow, BuildSetRow, EventRow, QueueItemRow

GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org",
           "GIT_CONFIG_NOSYSTEM": "1"}

#: 2026-12-01 00:00:00 UTC, a Tuesday.
MIDNIGHT = 1_796_083_200.0


def git(cwd: Path, *args: str, admin: bool = False) -> str:
    env = {**os.environ, **GIT_ENV, **({"ZUULISH_FORGE_ADMIN": "1"} if admin else {})}
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout


class TriggerWorld:
    """Tenant ``t``: config project ``zuul-config`` (``pipelines`` and ``jobs``) and
    untrusted ``projects`` (path -> text per project)."""

    def __init__(self, tmp: Path, database_url: str, config: str,
                 projects: dict[str, dict[str, str]], start: float = MIDNIGHT):
        self.tmp = tmp
        untrusted = "".join(f"          - {name}\n" for name in projects)
        (tmp / "main.yaml").write_text(
            "- tenant:\n    name: t\n    source:\n      forge:\n        config-projects:\n"
            f"          - zuul-config\n        untrusted-projects:\n{untrusted}")
        (tmp / "zuulish.yaml").write_text(
            f"state_dir: state\ndatabase: {database_url}\ntenant_file: main.yaml\n"
            "web: {listen: '127.0.0.1:9', url: 'http://zuulish.test'}\n"
            "connections: {forge: {driver: git}}\n")
        self.config = load_server_config(tmp / "zuulish.yaml")
        self.clock = SimulatedClock(start)
        self.results: dict[str, str] = {}  # job -> result (default SUCCESS)
        self._boot()
        self.forge.create_project("zuul-config", {"zuul.d/config.yaml": config})
        for name, files in projects.items():
            self.forge.create_project(name, files)
        self.aio.layouts.load_all()
        self._n = 0

    def _boot(self) -> None:
        self.aio = AllInOne(self.config, clock=self.clock)
        self.forge = self.aio.connections.forges["forge"]
        self.store = self.aio.store

    def restart(self) -> None:
        """Every component anew over the same store and repositories (a restart)."""
        self.aio.store.dispose()
        self._boot()
        self.aio.layouts.load_all()
        self.aio.recover()

    def close(self) -> None:
        self.aio.store.dispose()

    # ------------------------------------------------------------ users
    def push_branch(self, project: str, files: dict[str, str], branch: str = "main",
                    subject: str = "Direct push") -> str:
        """An administrator's direct push of one commit onto ``branch``; its sha."""
        self._n += 1
        work = self.tmp / "work" / str(self._n)
        git(self.tmp, "clone", "-q", str(self.forge.repo_path(project)), str(work))
        exists = bool(git(work, "ls-remote", "origin", f"refs/heads/{branch}").strip())
        if exists:
            git(work, "checkout", "-q", branch)
        for path, text in files.items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(text)
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", subject)
        git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}", admin=True)
        return git(work, "rev-parse", "HEAD").strip()

    def delete_branch(self, project: str, branch: str) -> None:
        git(self.forge.repo_path(project), "push", "-q", ".", f":refs/heads/{branch}",
            admin=True)

    # ------------------------------------------------------------- time
    def advance_to(self, when: float) -> None:
        """Move the clock to ``when`` and let everything run."""
        self.clock.advance(max(0.0, when - self.clock.now()))
        self.settle()

    def settle(self, limit: int = 200) -> None:
        """Run timer, scheduler, merger and the instant executor until nothing moves."""
        for _ in range(limit):
            busy = self.aio.timer.run_once()
            busy = self.aio.scheduler.run_once().busy or busy
            busy = self.aio.merger.run_once() or busy
            busy = self._finish_builds() or busy
            if not busy:
                return
        raise RuntimeError("the world did not settle")

    def _finish_builds(self) -> bool:
        now = self.clock.now()
        with self.store.session() as s:
            rows = s.scalars(select(BuildRow).where(BuildRow.state == BuildState.QUEUED)).all()
            for row in rows:
                row.state, row.started_at, row.finished_at = BuildState.COMPLETED, now, now
                row.result = self.results.get(row.job, BuildResult.SUCCESS)
        return bool(rows)

    # ----------------------------------------------------------- figures
    def builds(self, pipeline: str | None = None) -> list[dict[str, Any]]:
        """Every build, in the order its item was enqueued (on a simulated clock many
        start at the same time): job, result and the parameters it ran with."""
        with self.store.read() as s:
            rows = s.execute(select(BuildRow.job, BuildRow.params, BuildRow.result)
                             .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                             .order_by(BuildSetRow.item_id, BuildSetRow.id, BuildRow.job)).all()
        out = [{"job": job, "result": result, **params} for job, params, result in rows]
        return [b for b in out if pipeline is None or b["pipeline"] == pipeline]

    def items(self, pipeline: str) -> list[QueueItemRow]:
        with self.store.read() as s:
            return list(s.scalars(select(QueueItemRow).where(QueueItemRow.pipeline == pipeline)
                                  .order_by(QueueItemRow.id)))

    def events(self, type_: str | None = None) -> list[EventRow]:
        with self.store.read() as s:
            query = select(EventRow).order_by(EventRow.id)
            if type_:
                query = query.where(EventRow.type == type_)
            return list(s.scalars(query))
