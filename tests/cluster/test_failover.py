"""Two schedulers, executors, mergers and a launcher as processes on PostgreSQL: one
scheduler is active, a standby takes over when it dies, and nothing is lost or done
twice."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from sqlalchemy import func, select

from tests.fakes.cluster import QUICK_APP, Cluster
from zuulish.store import BuildRow, ComponentRow

APP = QUICK_APP
SLOW_APP = """
- job:
    name: slow
    parent: run-shell
    vars:
      command: sleep 6
- project:
    queue: shared
    gate:
      jobs: [slow]
"""


def _merged(cluster: Cluster, n: int) -> bool:
    """Merged, and its gate report left (the reporter merges first, then reports)."""
    return cluster.tenant.change(n).status == "MERGED" and any(
        r.result is not None for r in cluster.tenant.reports(n, "gate"))


def _success_reports(cluster: Cluster, n: int) -> int:
    return sum(r.result == "SUCCESS" for r in cluster.tenant.reports(n, "gate"))


def test_standby_scheduler_takes_over_when_the_active_one_is_killed(
        tmp_path: Path, pg_url: str) -> None:
    cluster = Cluster(tmp_path, pg_url, {"org/app": {".zuul.yaml": APP}})
    try:
        first = cluster.start("scheduler")
        cluster.wait_running(first)
        second = cluster.start("scheduler")
        for kind in ("executor", "merger", "launcher"):
            cluster.wait_running(cluster.start(kind))
        cluster.wait_running(second)
        active = cluster.wait_for(cluster.active_scheduler, 30, "an active scheduler")
        assert active is first  # the first to start takes the lease; the other waits
        n1 = cluster.tenant.push("org/app", {"a.txt": "a\n"}, "A")
        cluster.tenant.approve(n1)
        cluster.wait_for(lambda: _merged(cluster, n1), 120, "the first change to merge")

        active.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        new = cluster.wait_for(lambda: (p := cluster.active_scheduler()) and p is not active
                               and p, 30, "the standby to take over")
        assert new is second
        took = time.monotonic() - killed_at
        assert took < 10, f"failover took {took:.1f}s"
        assert "taking over without waiting" in second.output() or took < 3

        n2 = cluster.tenant.push("org/app", {"b.txt": "b\n"}, "B")
        cluster.tenant.approve(n2)
        cluster.wait_for(lambda: _merged(cluster, n2), 120, "the second change to merge")
        assert cluster.tenant.branch_file("org/app", "a.txt") == "a\n"
        assert cluster.tenant.branch_file("org/app", "b.txt") == "b\n"
        assert _success_reports(cluster, n1) == 1 and _success_reports(cluster, n2) == 1
    finally:
        cluster.stop()


def test_a_paused_executor_loses_its_build_which_runs_once_elsewhere(
        tmp_path: Path, pg_url: str) -> None:
    """SIGSTOP (a partition) past the heartbeat timeout: the build is queued again and
    runs on the other executor; the paused one, resumed, records nothing."""
    cluster = Cluster(tmp_path, pg_url, {"org/app": {".zuul.yaml": SLOW_APP}})
    try:
        for kind in ("scheduler", "merger", "launcher"):
            cluster.wait_running(cluster.start(kind))
        paused = cluster.start("executor")
        cluster.wait_running(paused)
        paused_id = cluster.component_id(paused)
        n = cluster.tenant.push("org/app", {"a.txt": "a\n"}, "A")
        cluster.tenant.approve(n)

        def running_on_paused() -> bool:
            with cluster.store.read() as s:
                return s.scalar(select(func.count()).select_from(BuildRow).where(
                    BuildRow.state == "running", BuildRow.worker == paused_id)) > 0

        cluster.wait_for(running_on_paused, 60, "the build to start on the first executor")
        paused.signal(signal.SIGSTOP)
        other = cluster.start("executor")
        cluster.wait_running(other)
        cluster.wait_for(lambda: _merged(cluster, n), 120, "the change to merge")
        with cluster.store.read() as s:
            dead = s.get(ComponentRow, paused_id)
            assert dead is not None and dead.state == "dead"
            builds = s.scalars(select(BuildRow).where(BuildRow.job == "slow")).all()
        assert len(builds) == 1 and builds[0].result == "SUCCESS"
        assert builds[0].worker == cluster.component_id(other)
        paused.signal(signal.SIGCONT)
        cluster.wait_for(lambda: "declared dead" in paused.output(), 30,
                         "the resumed executor to learn it was declared dead")
        time.sleep(2)
        with cluster.store.read() as s:
            again = s.get(BuildRow, builds[0].id)
        assert again is not None and again.worker == builds[0].worker  # nothing overwritten
        assert _success_reports(cluster, n) == 1
    finally:
        cluster.stop()
