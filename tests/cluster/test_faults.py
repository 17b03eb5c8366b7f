"""Bad input for a distributed deployment: the database away for a while, a scheduler
with another tenant file, executor zones (one with nodes, one without)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.cluster.test_failover import APP, SLOW_APP, _merged, _success_reports
from tests.fakes.cluster import Cluster
from zuulish.store import BuildRow, ComponentRow

LAB_APP = """
- nodeset:
    name: lab
    nodes:
      - name: gpu-box
        label: lab-node
- job:
    name: on-lab
    parent: run-shell
    nodeset: lab
    vars:
      command: "true"
- job:
    name: anywhere
    parent: run-shell
    vars:
      command: "true"
- project:
    queue: shared
    gate:
      jobs: [on-lab, anywhere]
"""


def test_the_database_away_and_back_loses_nothing_and_kills_no_one(
        tmp_path: Path, pg_url: str) -> None:
    cluster = Cluster(tmp_path, pg_url, {"org/app": {".zuul.yaml": SLOW_APP}})
    try:
        procs = [cluster.start(kind) for kind in
                 ("scheduler", "scheduler", "executor", "merger", "launcher")]
        for proc in procs:
            cluster.wait_running(proc)
        n = cluster.tenant.push("org/app", {"a.txt": "a\n"}, "A")
        cluster.tenant.approve(n)
        cluster.wait_for(lambda: _running(cluster), 60, "the build to start")
        cluster.proxy.cut()
        # well past dead_after (3 s) and the lease (2 s); a minute by hand:
        # ZUULISH_DB_AWAY_SECONDS=60
        time.sleep(float(os.environ.get("ZUULISH_DB_AWAY_SECONDS", "8")))
        cluster.proxy.restore()
        cluster.wait_for(lambda: _merged(cluster, n), 120, "the change to merge")
        assert all(p.alive for p in procs), cluster.logs()
        with cluster.store.read() as s:
            assert s.scalars(select(ComponentRow.id)
                             .where(ComponentRow.state == "dead")).all() == []
            builds = s.scalars(select(BuildRow)).all()
        assert [(b.job, b.result) for b in builds] == [("slow", "SUCCESS")]
        assert _success_reports(cluster, n) == 1
        executor = next(p for p in procs if p.kind == "executor")
        assert "cannot reach the database" in executor.output()
        assert "the database answers again" in executor.output()
    finally:
        cluster.stop()


def _running(cluster: Cluster) -> bool:
    with cluster.store.read() as s:
        return s.scalar(select(BuildRow.id).where(BuildRow.state == "running")) is not None


def test_a_scheduler_with_another_tenant_file_is_refused(tmp_path: Path, pg_url: str) -> None:
    cluster = Cluster(tmp_path, pg_url, {"org/app": {".zuul.yaml": APP}})
    try:
        cluster.wait_running(cluster.start("scheduler"))
        other = tmp_path / "other-main.yaml"
        other.write_text(cluster.tenant.config.tenant_file.read_text()
                         .replace("name: t", "name: other"))
        refused = cluster.start("scheduler", tenant_file=str(other))
        assert refused.popen.wait(60) == 1
        out = refused.output()
        assert "differs from the tenant file of the running scheduler" in out, out
    finally:
        cluster.stop()


def test_builds_on_a_zones_nodes_run_on_that_zones_executor_only(
        tmp_path: Path, pg_url: str) -> None:
    providers = [{"name": "local", "driver": "local", "labels": ["local"]},
                 {"name": "lab", "driver": "local", "labels": ["lab-node"], "zone": "lab"}]
    cluster = Cluster(tmp_path, pg_url, {"org/app": {".zuul.yaml": LAB_APP}},
                      providers=providers)
    try:
        for kind in ("scheduler", "merger", "launcher"):
            cluster.wait_running(cluster.start(kind))
        plain = cluster.start("executor")
        lab = cluster.start("executor", name="lab-executor", executor={"zone": "lab"})
        nowhere = cluster.start("executor", name="nowhere", executor={"zone": "nowhere"})
        for proc in (plain, lab, nowhere):
            cluster.wait_running(proc)
        assert "no node provider" in nowhere.output() and "'nowhere'" in nowhere.output()
        n = cluster.tenant.push("org/app", {"a.txt": "a\n"}, "A")
        cluster.tenant.approve(n)
        cluster.wait_for(lambda: _merged(cluster, n), 120, "the change to merge")
        with cluster.store.read() as s:
            ran = {b.job: (b.worker, b.zone) for b in s.scalars(select(BuildRow))}
        assert ran["on-lab"] == (cluster.component_id(lab), "lab")
        assert ran["anywhere"] == (cluster.component_id(plain), None)
    finally:
        cluster.stop()


def test_component_clocks_hours_apart_change_nothing(tmp_path: Path, pg_url: str) -> None:
    """Heartbeats and leases are in the database's clock: components whose clocks are
    hours off (or jump) are neither declared dead nor robbed of their lease."""
    if shutil.which("faketime") is None:
        pytest.fail("faketime is not installed (apt-get install faketime)")
    cluster = Cluster(tmp_path, pg_url, {"org/app": {".zuul.yaml": APP}})
    try:
        first = cluster.start("scheduler", wrap=["faketime", "-f", "+2h"])
        cluster.wait_running(first)
        # (libfaketime's sleeps fail with a negative offset, and Ansible's pexpect
        # under any: the executor keeps the true time, the others are ahead by hours)
        procs = [first, cluster.start("scheduler", wrap=["faketime", "-f", "+5h"]),
                 cluster.start("executor"),
                 cluster.start("merger", wrap=["faketime", "-f", "+1d"]),
                 cluster.start("launcher", wrap=["faketime", "-f", "+3h"])]
        for proc in procs:
            cluster.wait_running(proc)
        n = cluster.tenant.push("org/app", {"a.txt": "a\n"}, "A")
        cluster.tenant.approve(n)
        cluster.wait_for(lambda: _merged(cluster, n), 120, "the change to merge")
        time.sleep(4)  # more than dead_after (3 s) and the lease (2 s)
        assert cluster.active_scheduler() is first
        with cluster.store.read() as s:
            assert s.scalars(select(ComponentRow.id)
                             .where(ComponentRow.state == "dead")).all() == []
        assert _success_reports(cluster, n) == 1
    finally:
        cluster.stop()
