#!/usr/bin/env python3
"""Scale-out figures on PostgreSQL, with every component a process of its own.

* ``failover_kill_s``: from SIGKILL of the active scheduler to the next build request
  (a build row for a change approved just after the kill), with a standby waiting;
  ``failover_partition_s``: the same after SIGSTOP (the holder's session stays open,
  so the standby waits for the lease to expire: ``cluster.lease_seconds``).
* ``builds_per_minute``: trivial builds completed per minute by 1, 2 and 4 executor
  processes (``trivial_executor.py``: the real executor component, each build
  waiting ``--work-seconds`` instead of running playbooks, so the figure is the
  executors' capacity and the coordination through the database, not Ansible's CPU
  on this machine's two cores), each with ``--workers`` slots, over ``--builds``
  queued builds; ``speedup_4`` is 4 executors' rate over 1 executor's.
* ``event_to_build_ms``: p50/p99 from a stored event to the stored build request
  with ``--items`` items queued (the real scheduler over PostgreSQL, the gate
  simulator's merger and launcher) while 4 executor processes hold builds and poll
  the same database.

Prints one JSON line. Needs PostgreSQL: ``--database`` (default: the local server's
``test`` database's server, a database ``zuulish_scale_bench`` made afresh).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from sqlalchemy import create_engine, func, make_url, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.cluster import QUICK_APP as APP  # noqa: E402
from tests.fakes.cluster import Cluster  # noqa: E402
from zuulish.model import FrozenJob  # noqa: E402
from zuulish.store import (  # noqa: E402
    BuildRow,
    BuildSetRow,
    ComponentRow,
    QueueItemRow,
    Store,
)

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def fresh_database(server: str, name: str) -> str:
    base = make_url(server)
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)


# ------------------------------------------------------------------ failover
def _build_for(cluster: Cluster, number: int) -> bool:
    with cluster.store.read() as s:
        return (s.scalar(select(func.count()).select_from(BuildRow)
                         .join(BuildSetRow, BuildSetRow.id == BuildRow.buildset_id)
                         .join(QueueItemRow, QueueItemRow.id == BuildSetRow.item_id)
                         .where(QueueItemRow.change_number == number)) or 0) > 0


def failover(server: str, tmp: Path) -> dict[str, float]:
    url = fresh_database(server, "zuulish_scale_bench")
    (tmp / "failover").mkdir()
    cluster = Cluster(tmp / "failover", url, {"org/app": {".zuul.yaml": APP}},
                      timing={"heartbeat_seconds": 1, "dead_after_seconds": 6,
                              "lease_seconds": 4})
    try:
        first = cluster.start("scheduler")
        cluster.wait_running(first)
        procs = [cluster.start(k) for k in ("scheduler", "executor", "merger", "launcher")]
        for p in procs:
            cluster.wait_running(p)
        warm = cluster.tenant.push("org/app", {"w.txt": "w\n"}, "warm-up")
        cluster.tenant.approve(warm)
        cluster.wait_for(lambda: cluster.tenant.change(warm).status == "MERGED", 120,
                         "the warm-up change to merge")
        figures = {}
        for name, sig in (("failover_kill_s", signal.SIGKILL),
                          ("failover_partition_s", signal.SIGSTOP)):
            standby = cluster.start("scheduler")
            cluster.wait_running(standby)
            active = cluster.active_scheduler()
            assert active is not None
            n = cluster.tenant.push("org/app", {f"{name}.txt": "x\n"}, name)
            active.signal(sig)
            started = time.monotonic()
            cluster.tenant.approve(n)
            cluster.wait_for(lambda n=n: _build_for(cluster, n), 120,
                             f"a build request after {name}")
            figures[name] = round(time.monotonic() - started, 2)
            if sig == signal.SIGSTOP:
                active.signal(signal.SIGKILL)
        return figures
    finally:
        cluster.stop()


# ---------------------------------------------------------------- throughput
def _config(tmp: Path, url: str, name: str, workers: int) -> Path:
    state = tmp / name
    state.mkdir(parents=True, exist_ok=True)
    (tmp / "main.yaml").write_text("- tenant:\n    name: t\n    source: {}\n")
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "state_dir": str(state), "database": url, "tenant_file": str(tmp / "main.yaml"),
        "executor": {"workers": workers, "preload_ansible": False},
        "scheduler": {"poll_interval": 0.05},
        "cluster": {"heartbeat_seconds": 1, "dead_after_seconds": 10, "lease_seconds": 4}}))
    return path


def _queue_builds(store: Store, count: int) -> None:
    job = FrozenJob(name="trivial").to_dict()
    now = time.time()
    with store.session() as s:
        item = QueueItemRow(tenant="t", pipeline="check", queue_name="q", connection="forge",
                            change_number=1, patchset=1, commit_sha="0" * 40,
                            project="p", branch="main", state="queued", sequence=1,
                            enqueued_at=now)
        s.add(item)
        s.flush()
        bs = BuildSetRow(uuid=uuid.uuid4().hex, item_id=item.id, created_at=now)
        s.add(bs)
        s.flush()
        for i in range(count):
            s.add(BuildRow(id=uuid.uuid4().hex, buildset_id=bs.id, job=f"trivial-{i}",
                           frozen_job=job, params={"nodes": []}, state="queued",
                           created_at=now, priority=100))


def _start_executors(tmp: Path, url: str, count: int, workers: int,
                     work_seconds: float) -> list[subprocess.Popen]:
    procs = []
    for i in range(count):
        cfg = _config(tmp, url, f"exec-{i}", workers)
        log = (tmp / f"exec-{i}.log").open("w")
        procs.append(subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks/trivial_executor.py"), "-c", str(cfg),
             "--work-seconds", str(work_seconds)], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True))
    return procs


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def _wait_registered(store: Store, count: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with store.read() as s:
            n = s.scalar(select(func.count()).select_from(ComponentRow).where(
                ComponentRow.kind == "executor", ComponentRow.state == "running"))
        if n >= count:
            return
        time.sleep(0.2)
    raise RuntimeError("the executors did not start")


def throughput(server: str, tmp: Path, executors: int, builds: int, workers: int,
               work_seconds: float) -> float:
    url = fresh_database(server, "zuulish_scale_bench")
    store = Store(url)
    store.upgrade()
    where = tmp / f"throughput-{executors}"
    procs = _start_executors(where, url, executors, workers, work_seconds)
    try:
        _wait_registered(store, executors)
        _queue_builds(store, builds)
        started = time.monotonic()
        store.notifier.notify("executor")
        while True:
            with store.read() as s:
                done = s.scalar(select(func.count()).select_from(BuildRow)
                                .where(BuildRow.state == "completed"))
            if done >= builds:
                break
            if time.monotonic() - started > 600:
                raise RuntimeError(f"only {done} of {builds} builds completed")
            time.sleep(0.05)
        return round(builds / ((time.monotonic() - started) / 60), 1)
    finally:
        _stop(procs)
        store.dispose()


# ------------------------------------------------------ event to build, loaded
def event_to_build(server: str, tmp: Path, items: int, events: int) -> list[float]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from scheduler_latency import REPOS, event_latencies, fill

    from tests.fakes.gate_world import GateWorld

    url = fresh_database(server, "zuulish_scale_bench")
    world = GateWorld(repos=REPOS, nodes=items + events + 1, manager="independent",
                      build_seconds=lambda rng: 10.0 ** 9, database_url=url)
    procs: list[subprocess.Popen] = []
    try:
        fill(world, items)
        procs = _start_executors(tmp / "loaded", url, 4, 2, 10.0 ** 6)
        _wait_registered(world.store, 4)
        return event_latencies(world, items + 1, events, simulated_executor=False)
    finally:
        _stop(procs)
        world.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=os.environ.get("ZUULISH_BENCH_DATABASE_URL",
                                                             DEFAULT_SERVER))
    parser.add_argument("--builds", type=int, default=240)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--work-seconds", type=float, default=2.0)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--skip-failover", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zuulish-scale-") as name:
        tmp = Path(name)
        figures: dict[str, object] = {}
        if not args.skip_failover:
            figures.update(failover(args.database, tmp))
        rates = {str(n): throughput(args.database, tmp, n, args.builds, args.workers,
                                    args.work_seconds) for n in (1, 2, 4)}
        figures["builds_per_minute"] = rates
        figures["speedup_4"] = round(rates["4"] / rates["1"], 2)
        figures["ideal_builds_per_minute_1"] = round(60 * args.workers / args.work_seconds, 1)
        latencies = event_to_build(args.database, tmp, args.items, args.events)
        figures["event_to_build_ms"] = {"p50": percentile(latencies, 0.5),
                                        "p99": percentile(latencies, 0.99),
                                        "mean": round(statistics.mean(latencies), 2)}
        figures.update(items=args.items, events=args.events, builds=args.builds,
                       workers_per_executor=args.workers, work_seconds=args.work_seconds)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
