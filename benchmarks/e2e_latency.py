#!/usr/bin/env python3
"""End-to-end latency of a trivial check job on the embedded default.

From ``git push`` to the job's first task (``push_to_start_s``) and to its
stored result (``push_to_result_s``): SQLite, the built-in forge, the local
node pool, one real ansible-runner build of a one-task playbook (and the base
job's pre-run). Prints one JSON line with the medians over ``--runs`` pushes
and where the time went. ``--cold`` turns off the executor's preloaded Ansible.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zuulish.app import AllInOne  # noqa: E402
from zuulish.server_config import load_server_config  # noqa: E402
from zuulish.store import (  # noqa: E402
    BuildRow,
    BuildSetRow,
    ChangeRow,
    EventRow,
    MergeRequestRow,
    QueueItemRow,
)

ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.org",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.org"}

PIPELINE = """
- pipeline:
    name: check
    manager: independent
    trigger:
      forge:
        - event: patchset-created
    success:
      forge: {Verified: 1}
    failure:
      forge: {Verified: -1}
"""

PROJECT = """
- job:
    name: trivial
    parent: run-shell
    vars: {command: "true"}
- project:
    check:
      jobs: [trivial]
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True,
                          text=True).stdout


def read_dir(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file()}


def breakdown(aio: AllInOne, build: BuildRow, start: float) -> dict[str, float]:
    """Where the time went, stage by stage (seconds)."""
    with aio.store.read() as s:
        bs = s.get(BuildSetRow, build.buildset_id)
        item = s.get(QueueItemRow, bs.item_id)
        event = s.get(EventRow, item.event_id)
        merge = s.scalars(select(MergeRequestRow).where(
            MergeRequestRow.buildset_id == bs.id)).one()
    marks = [("push_hooks", event.created_at), ("enqueue", item.enqueued_at),
             ("merge", merge.finished_at), ("build_request", build.created_at),
             ("executor_claim", build.started_at), ("to_first_task", build.first_task_at),
             ("to_result", build.finished_at)]
    out, last = {}, start
    for name, mark in marks:
        out[name] = round(mark - last, 3)
        last = mark
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", action="store_true",
                        help="start every playbook cold (executor.preload_ansible: false)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "main.yaml").write_text(
            "- tenant:\n    name: bench\n    source:\n      forge:\n"
            "        config-projects: [zuul-config, zuulish-jobs]\n"
            "        untrusted-projects: [app]\n")
        (tmp / "zuulish.yaml").write_text(
            "state_dir: state\ntenant_file: main.yaml\nconnections: {forge: {driver: git}}\n"
            f"executor: {{preload_ansible: {'false' if args.cold else 'true'}}}\n")
        aio = AllInOne(load_server_config(tmp / "zuulish.yaml"))
        forge = aio.connections.forges["forge"]
        forge.create_project("zuul-config", {"zuul.d/pipelines.yaml": PIPELINE})
        forge.create_project("zuulish-jobs", read_dir(ROOT / "jobs"))
        forge.create_project("app", {".zuul.yaml": PROJECT, "README": "bench\n"})
        aio.start()
        work = tmp / "work"
        git(tmp, "clone", "-q", str(forge.repo_path("app")), str(work))
        runs = []
        try:
            for i in range(args.runs + 1):  # the first run warms caches and is dropped
                (work / "file.txt").write_text(f"{i}\n")
                change_id = "I" + hashlib.sha1(f"bench{i}".encode()).hexdigest()
                git(work, "add", "-A")
                git(work, "commit", "-q", "-m", f"Change {i}\n\nChange-Id: {change_id}")
                start = time.time()
                git(work, "push", "-q", "origin", "HEAD:refs/for/main")
                sha = git(work, "rev-parse", "HEAD").strip()
                git(work, "reset", "-q", "--hard", "HEAD~1")
                build = None
                deadline = time.time() + 120
                while time.time() < deadline:
                    with aio.store.read() as s:
                        build = s.scalars(
                            select(BuildRow).join(BuildSetRow)
                            .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                            .join(ChangeRow, (ChangeRow.number == QueueItemRow.change_number))
                            .where(ChangeRow.commit_sha == sha,
                                   BuildRow.result.is_not(None))).first()
                    if build is not None:
                        break
                    time.sleep(0.01)
                if build is None or build.result != "SUCCESS" or build.first_task_at is None:
                    raise SystemExit(f"run {i}: build did not succeed: "
                                     f"{build and (build.result, build.message)}")
                if i:
                    runs.append({"push_to_start_s": round(build.first_task_at - start, 3),
                                 "push_to_result_s": round(build.finished_at - start, 3),
                                 **breakdown(aio, build, start)})
        finally:
            aio.stop()
    print(json.dumps({
        "push_to_start_s": round(statistics.median(r["push_to_start_s"] for r in runs), 3),
        "push_to_result_s": round(statistics.median(r["push_to_result_s"] for r in runs), 3),
        "stages_median_s": {k: round(statistics.median(r[k] for r in runs), 3)
                            for k in runs[0] if not k.endswith("_s")},
        "runs": len(runs), "preload_ansible": not args.cold,
    }))


if __name__ == "__main__":
    main()
