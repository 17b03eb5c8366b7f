#!/usr/bin/env python3
"""What the base job's pre-run costs a build on static nodes, against a local node.

Runs the whole system (``tests/fakes/tenant.py``: scheduler, launcher, executor,
SQLite store, the built-in forge) with a static provider of sshd hosts in network
namespaces (``tests/fakes/ssh_node.py``; needs root, ``ip``, ``unshare``,
``sshd``). One small project (a few files, one commit per change) has three
``run-shell`` jobs (``command: true``) that differ only in their nodeset: one
local node, one static node, two static nodes. ``--changes`` changes are pushed
one at a time, each reported before the next.

For each build, the pre-run's wall time is read from ``job-output.txt`` (from the
``PRE-RUN`` line to the ``RUN`` line, so it holds ansible-playbook's start, the
SSH connections and all of the base job's tasks), and each pre-run task's
duration from ``job-output.json`` (a task on two nodes counts its slower host).
Prints one JSON line: per nodeset (``local``, ``static1``, ``static2``) the
median and maximum pre-run seconds and the median seconds of each task, the
number of builds, and the size of the project's bundle.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from tests.fakes.ssh_node import SshNodes, missing_requirements  # noqa: E402
from tests.fakes.tenant import GateTenant  # noqa: E402
from zuulish.store import BuildRow  # noqa: E402

JOBS = """
- nodeset: {name: one-static, nodes: [{name: box, label: static}]}
- nodeset:
    name: two-static
    nodes: [{name: first, label: static-0}, {name: second, label: static-1}]
- job: {name: local, parent: run-shell}
- job: {name: static1, parent: run-shell, nodeset: one-static}
- job: {name: static2, parent: run-shell, nodeset: two-static}
- project:
    check:
      jobs: [local, static1, static2]
"""
PROJECT = {".zuul.yaml": JOBS, "README": "A small project.\n",
           "app/__init__.py": "def answer():\n    return 42\n",
           "tests/test_app.py": "from app import answer\n\n\ndef test_answer():\n"
                                "    assert answer() == 42\n"}


def stamp(line: str) -> datetime.datetime:
    return datetime.datetime.strptime(line[:26], "%Y-%m-%d %H:%M:%S.%f")


def pre_run_seconds(log_dir: Path) -> float:
    lines = (log_dir / "job-output.txt").read_text().splitlines()
    start = next(stamp(x) for x in lines if x[29:].startswith("PRE-RUN "))
    end = next(stamp(x) for x in lines if x[29:].startswith("RUN "))
    return (end - start).total_seconds()


def task_seconds(log_dir: Path) -> dict[str, float]:
    tasks: dict[str, float] = {}
    for record in json.loads((log_dir / "job-output.json").read_text()):
        if record["phase"] == "pre-run":
            name = record["task"]
            tasks[name] = max(tasks.get(name, 0.0), float(record["duration"] or 0.0))
    return tasks


def summarise(done: list[tuple[str, str | None, Path]], changes: int,
              bundle_bytes: int) -> dict[str, object]:
    failed = [(job, result) for job, result, _ in done if result != "SUCCESS"]
    if failed:
        sys.exit(f"builds failed: {failed}")
    figures: dict[str, object] = {"changes": changes, "bundle_bytes": bundle_bytes}
    for job in ("local", "static1", "static2"):
        dirs = [d for j, _, d in done if j == job]
        pre = [pre_run_seconds(d) for d in dirs]
        tasks = [task_seconds(d) for d in dirs]
        figures[job] = {
            "builds": len(dirs),
            "pre_run_s_median": round(statistics.median(pre), 2),
            "pre_run_s_max": round(max(pre), 2),
            "tasks_s_median": {name: round(statistics.median(t.get(name, 0.0) for t in tasks), 2)
                               for name in tasks[0]},
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=5)
    args = parser.parse_args()
    why_not = missing_requirements()
    if why_not:
        sys.exit(f"static nodes cannot be made here: {why_not}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        nodes = SshNodes(tmp / "nodes", count=2, hidden=[tmp / "state"])
        tenant = GateTenant(tmp, f"sqlite:///{tmp / 'bench.db'}", {"org/small": PROJECT},
                            providers=[{"name": "local", "driver": "local"},
                                       nodes.provider_config()],
                            private_key=nodes.key)
        try:
            tenant.start()
            for n in range(args.changes):
                number = tenant.push("org/small", {"README": f"Change {n}.\n"}, f"Change {n}")
                tenant.wait_reported(number, "check", timeout=300)
            with tenant.aio.store.read() as s:
                done = [(b.job, b.result, Path(b.log_path or ""))
                        for b in s.scalars(select(BuildRow))]
            bundle = subprocess.run(
                ["git", "bundle", "create", "-", "--all"], capture_output=True,
                cwd=tenant.forge.repo_path("org/small"), check=True).stdout
        finally:
            tenant.stop()
            nodes.close()
        figures = summarise(done, args.changes, len(bundle))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
