"""Promise 2 under fire: SIGKILL the all-in-one process at random moments of a busy gate.

Each run pushes and approves changes (some bad) into a shared queue of two
repositories while a real ``zuulish run`` process is killed with SIGKILL at
moments drawn from a seeded random generator, and started again at once or a
little later (pushes and approvals made while it is down are stored by the
forge's hooks and must not be lost). Once the kills stop, the gate must finish
as if nothing had happened: every good change merged exactly once, every bad
change rejected, the branch holding exactly the good changes, and nothing left
queued, running or unprocessed.

``ZUULISH_KILL_RUNS`` sets how many seeded runs there are (3 by default);
``ZUULISH_KILL_SEED`` replays one seed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.fakes.tenant import GateTenant, git
from zuulish.runner import free_port
from zuulish.store import (
    BuildRow,
    EventRow,
    MergeRequestRow,
    NodeRow,
    QueueItemRow,
)

pytestmark = [pytest.mark.slow, pytest.mark.store]

RUNS = int(os.environ.get("ZUULISH_KILL_RUNS", "3"))
SEEDS = [int(os.environ["ZUULISH_KILL_SEED"])] if os.environ.get("ZUULISH_KILL_SEED") \
    else list(range(1, RUNS + 1))

JOBS = """
- job:
    name: gate-test
    parent: run-shell
    vars:
      command: "sleep 1 && test ! -e BAD"
- project:
    queue: shared
    gate:
      jobs: [gate-test]
"""
PROJECTS = ("org/app", "org/lib")


@dataclass
class Server:
    """The ``zuulish run`` process, killed and restarted by the test."""

    config: Path
    log: Path
    proc: subprocess.Popen | None = None
    kills: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zuulish.cli", "-c", str(self.config), "run"],
            stdout=self.log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, at: float) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)  # the process group: no cleanup at all
        self.proc.wait(10)
        with self.log.open("a") as f:
            f.write(f"\n===== SIGKILL at +{at:.2f}s =====\n")
        self.kills.append(at)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


@dataclass(order=True)
class Step:
    at: float
    kind: str  # push, approve, kill, restart
    index: int = 0


def plan(rng: random.Random, changes: int, kills: int) -> tuple[list[Step], set[int]]:
    """A timeline of pushes, approvals and kills (with restarts), and which changes
    are bad. Kills fall anywhere in the busy period: while events are being taken
    in, states merged, builds run, results reported and branches moved."""
    bad = set(rng.sample(range(changes), k=rng.choice((1, 2))))
    steps = []
    for i in range(changes):
        pushed = rng.uniform(0, 12)
        steps.append(Step(pushed, "push", i))
        steps.append(Step(pushed + rng.uniform(0.1, 4), "approve", i))
    for k in range(kills):
        at = rng.uniform(1, 30)
        steps.append(Step(at, "kill", k))
        steps.append(Step(at + rng.choice((0.0, 0.0, rng.uniform(0.2, 3))), "restart", k))
    return sorted(steps), bad


@pytest.mark.parametrize("seed", SEEDS)
def test_random_sigkills_lose_nothing_and_merge_each_change_once(
        tmp_path: Path, database_url: str, seed: int) -> None:
    rng = random.Random(seed)
    tenant = GateTenant(tmp_path, database_url,
                        {p: {".zuul.yaml": JOBS, "README": f"{p}\n"} for p in PROJECTS})
    config = tmp_path / "zuulish.yaml"
    config.write_text(config.read_text().replace("127.0.0.1:9", f"127.0.0.1:{free_port()}"))
    server = Server(config, tmp_path / "server.log")
    tips = {p: _tip(tenant, p) for p in PROJECTS}
    steps, bad = plan(rng, changes=6, kills=4)
    numbers: dict[int, int] = {}
    projects: dict[int, str] = {}
    server.start()
    began = time.monotonic()
    try:
        for step in steps:
            time.sleep(max(0.0, step.at - (time.monotonic() - began)))
            if step.kind == "push":
                project = PROJECTS[step.index % 2]
                files = {f"change-{step.index}.txt": f"{step.index}\n"}
                if step.index in bad:
                    files["BAD"] = "this change breaks the tests\n"
                numbers[step.index] = tenant.push(project, files, f"Change {step.index}")
                projects[step.index] = project
            elif step.kind == "approve":
                tenant.approve(numbers[step.index])
            elif step.kind == "kill" and server.proc is not None:
                server.kill(time.monotonic() - began)
            elif step.kind == "restart" and server.proc is None:
                server.start()
        if server.proc is None:
            server.start()
        tenant.wait_for(lambda: all(_finished(tenant, n) for n in numbers.values()),
                        timeout=240, what=f"every change to be decided (seed {seed}, "
                                          f"kills at {server.kills})")
        tenant.wait_for(lambda: not _unfinished_work(tenant), timeout=60,
                        what="the queues and workers to go idle")
    except AssertionError:
        print(server.log.read_text()[-6000:])
        raise
    finally:
        server.stop()
    context = f"seed {seed}, kills at {[round(k, 2) for k in server.kills]}, bad {sorted(bad)}"
    good = [i for i in numbers if i not in bad]
    for i in good:
        n = numbers[i]
        assert tenant.change(n).status == "MERGED", context
        assert tenant.branch_file(projects[i], f"change-{i}.txt") == f"{i}\n", context
        results = {r.result for r in tenant.reports(n, "gate") if r.result}
        assert results == {"SUCCESS"}, f"change {n}: {results} ({context})"
    for i in bad:
        n = numbers[i]
        assert tenant.change(n).status != "MERGED", context
        results = {r.result for r in tenant.reports(n, "gate") if r.result}
        assert results == {"FAILURE"}, f"change {n}: {results} ({context})"
    for project in PROJECTS:
        assert tenant.branch_file(project, "BAD") is None, context
        wanted = sum(1 for i in good if projects[i] == project)
        moved = git(tenant.forge.repo_path(project), "rev-list", "--first-parent", "--count",
                    f"{tips[project]}..refs/heads/main").strip()
        assert int(moved) == wanted, f"{project}: {moved} commits for {wanted} merges " \
                                     f"({context})"
    with tenant.aio.store.read() as s:
        merged = s.execute(select(QueueItemRow.change_number, func.count())
                           .where(QueueItemRow.pipeline == "gate",
                                  QueueItemRow.state == "merged")
                           .group_by(QueueItemRow.change_number)).all()
    assert sorted(n for n, _ in merged) == sorted(numbers[i] for i in good), context
    assert all(count == 1 for _, count in merged), f"merged twice: {merged} ({context})"


def _tip(tenant: GateTenant, project: str) -> str:
    return git(tenant.forge.repo_path(project), "rev-parse", "refs/heads/main").strip()


def _finished(tenant: GateTenant, number: int) -> bool:
    """The change has a gate result and is no longer queued there."""
    if not any(r.result for r in tenant.reports(number, "gate")):
        return False
    with tenant.aio.store.read() as s:
        return s.scalar(select(QueueItemRow.id).where(
            QueueItemRow.pipeline == "gate", QueueItemRow.change_number == number,
            QueueItemRow.state == "queued")) is None


def _unfinished_work(tenant: GateTenant) -> list[str]:
    """Whatever is still queued, running or waiting anywhere in the store."""
    with tenant.aio.store.read() as s:
        left = []
        if s.scalar(select(EventRow.id).where(EventRow.processed_at.is_(None))):
            left.append("events")
        if s.scalar(select(QueueItemRow.id).where(QueueItemRow.state == "queued")):
            left.append("queue items")
        if s.scalar(select(BuildRow.id).where(
                BuildRow.state.in_(("waiting", "queued", "running")))):
            left.append("builds")
        if s.scalar(select(MergeRequestRow.id).where(
                MergeRequestRow.state.in_(("requested", "running")))):
            left.append("merge requests")
        if s.scalar(select(NodeRow.id).where(NodeRow.state == "in-use")):
            left.append("nodes")
        return left
