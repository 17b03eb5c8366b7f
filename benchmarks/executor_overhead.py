#!/usr/bin/env python3
"""The executor's own overhead per build, and its throughput, for a trivial job.

Runs the real executor (``zuulish.executor.server.Executor`` driven by its
component loop, as ``zuulish run`` drives it, with its default worker count and
the preloaded Ansible unless ``--cold``) over the real store (SQLite in a
temporary file, migrated with ``Store.upgrade()``) and real ansible-runner. Each
build is a one-task playbook (``command: "true"``) from a trusted config
project, on one local node (the local provider's host variables), with the
change's repository prepared at its speculative state (one change on the
branch tip), as the scheduler would ask for it.

A *build request* is a build row in state ``queued`` with its node assigned
(the node request fulfilled, the node ``in-use``), as the scheduler leaves it
when the launcher answered; the moment is the commit of that row, after which
the executor is woken as the scheduler wakes it.

- ``start_overhead_ms``: from the build request to the start of the first
  task, as ansible-runner's callback times it inside ``ansible-playbook``
  (``start`` of the first record in ``job-output.json``).
  ``start_overhead_seen_ms`` ends instead at the build's ``first_task_at``, when
  the executor received the first task-start event from ansible-runner.
- ``finish_overhead_ms``: from the end of the last task (``end`` of the last
  record in ``job-output.json``) to the commit of the transaction that stores
  the build's result (timed by a session ``after_commit`` hook on the store).

Both are measured on ``--builds`` builds requested one at a time (each after the
one before has its result), after ``--warmup`` builds that are not counted (the
repo caches are filled then). ``builds_per_minute``: ``--throughput-builds``
builds requested at once, divided by the time from their request to the last
result stored. Prints one JSON line: medians (also as ``_p50_ms``), ``_p99_ms``,
the median stages of the start (``claim``: request to claimed; ``prepare``:
claimed to ansible-runner started, i.e. workspace and playbook checkouts;
``ansible``: to the first task) and of the finish (``executor``: last task end
to ``finished_at``, set in the result's transaction; ``commit``: to stored),
and the inputs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zuulish.clock import SystemClock  # noqa: E402
from zuulish.executor.server import Executor  # noqa: E402
from zuulish.model import FrozenJob, NodeSet, NodeSpec, PlaybookRef  # noqa: E402
from zuulish.nodepool.local import LocalProvider  # noqa: E402
from zuulish.service import Worker  # noqa: E402
from zuulish.store import (  # noqa: E402
    BuildRow,
    BuildSetRow,
    NodeRequestRow,
    NodeRow,
    QueueItemRow,
    Store,
)
from zuulish.store import notify as channels  # noqa: E402

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: nothing
      ansible.builtin.command: "true"
      changed_when: false
"""
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.org",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.org",
           "GIT_AUTHOR_DATE": "1600000000 +0000", "GIT_COMMITTER_DATE": "1600000000 +0000",
           "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
RESULT_TIMEOUT = 120.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 1)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def _repo(path: Path, files: dict[str, str]) -> str:
    """A non-bare repository with ``files`` committed on ``main``; its tip."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "initial")
    return _git(path, "rev-parse", "HEAD")


def make_projects(root: Path) -> dict[str, Any]:
    """A config project holding the playbook, and the project under test with one
    change (``refs/changes/01/1/1``) on its branch tip; the build's params for them."""
    config = root / "git" / "zuul-config"
    _repo(config, {"playbooks/trivial.yaml": PLAYBOOK})
    app = root / "git" / "org" / "app"
    base = _repo(app, {"README": "app\n"})
    (app / "file.txt").write_text("changed\n")
    _git(app, "add", "-A")
    _git(app, "commit", "-q", "-m", "the change")
    change = _git(app, "rev-parse", "HEAD")
    _git(app, "update-ref", "refs/changes/01/1/1", change)
    _git(app, "reset", "-q", "--hard", base)
    return {
        "tenant": "bench", "pipeline": "check", "job": "trivial", "buildset": "bs",
        "project": "org/app", "branch": "main", "change": 1, "patchset": 1,
        "change_url": "http://127.0.0.1/1", "connection": "forge", "message": "the change",
        "repo_state": {"org/app": {
            "connection": "forge", "url": str(app), "branch": "main", "base": base,
            "pre": base, "commit": change, "merge_mode": "merge-resolve",
            "ahead_changes": [], "changes": [change]}},
        "project_urls": {"org/app": str(app), "zuul-config": str(config)},
        "trusted_projects": ["zuul-config"],
        "project_connections": {"org/app": "forge", "zuul-config": "forge"},
        "items_ahead": [], "node_names": ["node"], "requirements": [],
    }


JOB = FrozenJob(name="trivial", nodeset=NodeSet(nodes=(NodeSpec("node", "local"),)),
                timeout=300, attempts=1,
                run=(PlaybookRef("zuul-config", "playbooks/trivial.yaml", trusted=True,
                                 branch="main"),))


class Bench:
    """A store, one build set to hang builds on, and an executor serving them."""

    def __init__(self, tmp: Path, cold: bool) -> None:
        self.store = Store(f"sqlite:///{tmp / 'zuulish.db'}")
        self.store.upgrade()
        self.params = make_projects(tmp)
        self.provider = LocalProvider("local")
        self.stored: dict[str, float] = {}  # build id -> time its result was committed
        self.done = threading.Condition()
        event.listen(self.store.sessions, "after_commit", self._after_commit)
        with self.store.session() as s:
            item = QueueItemRow(tenant="bench", pipeline="check", queue_name="org/app",
                                connection="forge", change_number=1, patchset=1,
                                commit_sha="0" * 40, project="org/app", branch="main",
                                live=True, state="queued", sequence=1, enqueued_at=0.0,
                                event_id=0)
            s.add(item)
            s.flush()
            buildset = BuildSetRow(uuid="bs", item_id=item.id, current=True, ahead=[],
                                   merge_state="merged", created_at=0.0)
            s.add(buildset)
            s.flush()
            self.buildset_id = buildset.id
        self.executor = Executor(self.store, tmp / "state", SystemClock(),
                                 preload_ansible=not cold)
        self.worker = Worker("executor", self.executor.run_once, self.store.notifier,
                             channels.EXECUTOR)

    def _after_commit(self, session: Session) -> None:
        now = time.time()
        finished = [obj.id for obj in list(session.identity_map.values())
                    if isinstance(obj, BuildRow) and obj.result is not None]
        if finished:
            with self.done:
                for build_id in finished:
                    self.stored.setdefault(build_id, now)
                self.done.notify_all()

    def start(self) -> None:
        """Start the executor's loop; wait until its preloaded Ansible is warm."""
        zygote = self.executor.zygote
        if zygote is not None:
            zygote.start()  # what the loop's first pass does
            if not zygote.wait_ready(60):
                raise SystemExit("the preloaded Ansible did not start; see "
                                 f"{zygote.directory / 'zygote.log'}")
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()
        self.worker.join(10)
        self.executor.stop(wait=True)
        self.store.dispose()

    def request(self, count: int) -> tuple[list[str], float]:
        """Request ``count`` builds in one transaction; their ids and the commit time."""
        ids = []
        with self.store.session() as s:
            for _ in range(count):
                build_id = uuid.uuid4().hex
                launched = self.provider.launch("local")
                hostname, host_vars = launched.hostname, launched.host_vars
                req = NodeRequestRow(build_id=build_id, labels=["local"], state="fulfilled",
                                     priority=100, created_at=time.time(),
                                     fulfilled_at=time.time())
                s.add(req)
                s.flush()
                node = NodeRow(provider="local", label="local", state="in-use",
                               hostname=hostname, host_vars=host_vars, request_id=req.id,
                               created_at=time.time())
                s.add(node)
                s.flush()
                req.node_ids = [node.id]
                nodes = [{"id": node.id, "name": "node", "label": "local",
                          "hostname": hostname, "host_vars": host_vars}]
                s.add(BuildRow(id=build_id, buildset_id=self.buildset_id, job="trivial",
                               state="queued", frozen_job=JOB.to_dict(),
                               params={**self.params, "nodes": nodes},
                               node_request_id=req.id, created_at=time.time()))
                ids.append(build_id)
        requested = time.time()
        self.store.notifier.notify(channels.EXECUTOR)
        return ids, requested

    def wait(self, ids: list[str]) -> None:
        deadline = time.monotonic() + RESULT_TIMEOUT
        with self.done:
            while not all(i in self.stored for i in ids):
                if not self.done.wait(deadline - time.monotonic()):
                    raise SystemExit(f"builds had no result after {RESULT_TIMEOUT:g}s")

    def row(self, build_id: str) -> BuildRow:
        with self.store.read() as s:
            row = s.get(BuildRow, build_id)
            assert row is not None
            return row


def _iso(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp).timestamp()


def _log_time(line: str) -> float:
    return datetime.datetime.strptime(line.split(" | ", 1)[0],
                                      "%Y-%m-%d %H:%M:%S.%f").timestamp()


def measure(bench: Bench, build_id: str, requested: float) -> dict[str, float]:
    """One build's overheads and stages (milliseconds)."""
    row = bench.row(build_id)
    if row.result != "SUCCESS" or row.first_task_at is None or row.started_at is None:
        raise SystemExit(f"build {build_id} did not succeed: {row.result} {row.message} "
                         f"(see {row.log_path})")
    log_dir = Path(row.log_path or "")
    tasks = json.loads((log_dir / "job-output.json").read_text())
    first_start, last_end = _iso(tasks[0]["start"]), _iso(tasks[-1]["end"])
    runner_started = next(_log_time(line) for line in
                          (log_dir / "job-output.txt").read_text().splitlines()
                          if " | RUN " in line)
    stored = bench.stored[build_id]
    return {
        "start": (first_start - requested) * 1000,
        "start_seen": (row.first_task_at - requested) * 1000,
        "finish": (stored - last_end) * 1000,
        "claim": (row.started_at - requested) * 1000,
        "prepare": (runner_started - row.started_at) * 1000,
        "ansible": (first_start - runner_started) * 1000,
        "executor": ((row.finished_at or stored) - last_end) * 1000,
        "commit": (stored - (row.finished_at or stored)) * 1000,
    }


def run(builds: int, warmup: int, throughput_builds: int, cold: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zuulish-executor-bench-") as tmp_name:
        bench = Bench(Path(tmp_name), cold)
        bench.start()
        try:
            samples = []
            for i in range(warmup + builds):
                ids, requested = bench.request(1)
                bench.wait(ids)
                if i >= warmup:
                    samples.append(measure(bench, ids[0], requested))
            ids, requested = bench.request(throughput_builds)
            bench.wait(ids)
            elapsed = max(bench.stored[i] for i in ids) - requested
            failed = [(r.result, r.message) for r in map(bench.row, ids) if r.result != "SUCCESS"]
            if failed:
                raise SystemExit(f"{len(failed)} throughput builds did not succeed: {failed}")
        finally:
            bench.stop()

    def figures(key: str) -> dict[str, float]:
        values = [s[key] for s in samples]
        return {f"{key}_overhead_ms": percentile(values, 0.5),
                f"{key}_overhead_p50_ms": percentile(values, 0.5),
                f"{key}_overhead_p99_ms": percentile(values, 0.99)}

    return {
        **figures("start"), **figures("finish"),
        "start_overhead_seen_ms": percentile([s["start_seen"] for s in samples], 0.5),
        "builds_per_minute": round(throughput_builds / elapsed * 60, 1),
        "start_stages_p50_ms": {k: round(statistics.median(s[k] for s in samples), 1)
                                for k in ("claim", "prepare", "ansible")},
        "finish_stages_p50_ms": {k: round(statistics.median(s[k] for s in samples), 1)
                                 for k in ("executor", "commit")},
        "builds": builds, "warmup": warmup, "throughput_builds": throughput_builds,
        "workers": bench.executor.workers, "preload_ansible": not cold,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--builds", type=int, default=20,
                        help="builds requested one at a time for the overheads")
    parser.add_argument("--warmup", type=int, default=2, help="builds run first, not counted")
    parser.add_argument("--throughput-builds", type=int, default=30,
                        help="builds requested at once for builds_per_minute")
    parser.add_argument("--cold", action="store_true",
                        help="start every playbook cold (executor.preload_ansible: false)")
    args = parser.parse_args(argv)
    if args.builds < 1 or args.warmup < 0 or args.throughput_builds < 1:
        parser.error("--builds and --throughput-builds must be at least 1, --warmup at least 0")
    logging.basicConfig(level=logging.WARNING)
    figures = run(args.builds, args.warmup, args.throughput_builds, args.cold)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
