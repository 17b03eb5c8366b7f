"""Seeded chaos: components killed (SIGKILL) and partitioned (SIGSTOP past their
heartbeat timeout) at random moments while changes go through the gate. Every queue
completes, nothing is lost, nothing merges twice, no attempt of a build completes
twice, and the branch holds exactly what was tested.

CI runs one seed (``ZUULISH_SCALE_RUNS``, default 1); run more by hand, e.g.
``ZUULISH_SCALE_RUNS=10 ZUULISH_TEST_DATABASE_URL=... pytest tests/cluster/test_chaos.py``.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.cluster.test_failover import _merged
from tests.fakes.cluster import Cluster, Proc
from zuulish.store import BuildRow

RUNS = int(os.environ.get("ZUULISH_SCALE_RUNS", "1"))
CHANGES = 6

APP = """
- job:
    name: work
    parent: run-shell
    vars:
      command: sleep 2
- project:
    queue: shared
    gate:
      jobs: [work]
"""


@pytest.mark.parametrize("seed", range(RUNS))
def test_the_gate_completes_under_seeded_kills_and_partitions(
        tmp_path: Path, pg_url: str, seed: int) -> None:
    rng = random.Random(seed)
    cluster = Cluster(tmp_path, pg_url, {"org/app": {".zuul.yaml": APP}})
    try:
        kinds = ["scheduler", "scheduler", "executor", "executor", "executor", "merger",
                 "merger", "launcher"]
        procs = [cluster.start(kind) for kind in kinds]
        for proc in procs:
            cluster.wait_running(proc)
        numbers = []
        for i in range(CHANGES):
            n = cluster.tenant.push("org/app", {f"f{i}.txt": f"{i}\n"}, f"Change {i}")
            cluster.tenant.approve(n)
            numbers.append(n)
        deadline = time.monotonic() + 240
        faults = []
        while not all(_merged(cluster, n) for n in numbers):
            assert time.monotonic() < deadline, "the gate did not complete\n" + cluster.logs()
            time.sleep(rng.uniform(0.3, 1.5))
            # the first fault always strikes the active scheduler
            victim = cluster.active_scheduler() if not faults else _pick(cluster, rng)
            if victim is None:
                continue
            if rng.random() < 0.75:
                faults.append(f"kill {victim.name}")
                victim.signal(signal.SIGKILL)
                victim.popen.wait(10)
            else:
                faults.append(f"partition {victim.name}")
                victim.signal(signal.SIGSTOP)
                time.sleep(4)  # past dead_after (3 s) and the lease (2 s)
                victim.signal(signal.SIGKILL)  # then gone: its replacement starts below
                victim.popen.wait(10)
            replacement = cluster.start(victim.kind)
            cluster.wait_running(replacement)
        _check(cluster, numbers, faults)
    finally:
        cluster.stop()


def _pick(cluster: Cluster, rng: random.Random) -> Proc | None:
    """A live scheduler (the active one, half the time), executor or merger."""
    live = [p for p in cluster.procs if p.alive and p.kind in ("scheduler", "executor",
                                                                 "merger")]
    active = cluster.active_scheduler()
    if active is not None and rng.random() < 0.5:
        return active
    # keep one of each kind: a kind with a single live process is never the victim
    spare = [p for p in live if sum(q.kind == p.kind for q in live) > 1]
    return rng.choice(spare) if spare else None


def _check(cluster: Cluster, numbers: list[int], faults: list[str]) -> None:
    why = f"faults: {faults}"
    for i, n in enumerate(numbers):
        assert cluster.tenant.branch_file("org/app", f"f{i}.txt") == f"{i}\n", why
        merged = [r for r in cluster.tenant.reports(n, "gate") if r.result == "SUCCESS"]
        assert len(merged) == 1, why
    with cluster.store.read() as s:
        twice = s.execute(select(BuildRow.buildset_id, BuildRow.job, BuildRow.attempt,
                                 func.count()).where(BuildRow.state == "completed")
                          .group_by(BuildRow.buildset_id, BuildRow.job, BuildRow.attempt)
                          .having(func.count() > 1)).all()
    assert twice == [], why
    log = _git_log(cluster)  # each change's own commit once (merge commits aside)
    assert sorted(log) == sorted([f"Change {i}" for i in range(len(numbers))]
                                 + [log[-1]]), f"{why}\n{log}"


def _git_log(cluster: Cluster) -> list[str]:
    import subprocess

    out = subprocess.run(["git", "log", "--no-merges", "--format=%s", "refs/heads/main"],
                         cwd=cluster.tenant.forge.repo_path("org/app"),
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()
